"""The five seed flows and their templates, installed as drafts by install_journey_templates."""

from __future__ import annotations


def email(key, name, subject, lead, *, topic="offers"):
    html = (
        f"<h1>{lead}</h1><p>Hi {{{{ first_name|default:'there' }}}},</p>"
        "<p>{{ event.product|default:'Your picks' }} are waiting for you.</p>"
        '<p><a href="https://shop.example.com/">Visit the shop</a></p>{{ footer }}'
    )
    text = (f"{lead}\n\nHi {{{{ first_name|default:'there' }}}},\n\n"
            "{{ event.product|default:'Your picks' }} are waiting for you.\n\n"
            "Visit the shop: https://shop.example.com/\n\n{{ footer }}")  # fmt: skip
    return {"key": key, "name": name, "channel": "email", "topic": topic, "subject": subject,
            "preheader": lead, "body_html": html, "body_text": text}  # fmt: skip


def sms(key, name, body, *, topic="offers"):
    return {"key": key, "name": name, "channel": "sms", "topic": topic,
            "sms_body": "{{ brand }}: " + body}  # fmt: skip


def wait(key, next_key, **duration):
    return {"key": key, "type": "wait", "settings": duration, "next": next_key}


def send(key, channel, template, next_key="", **settings):
    return {"key": key, "type": f"send_{channel}", "settings": {"template": template, **settings},
            "next": next_key}  # fmt: skip


FLOWS = [
    {
        "template_key": "abandoned-cart",
        "name": "Abandoned cart",
        "description": "Email after 1 h; SMS 4 h later only if that email was not opened; "
        "email at 24 h; SMS at 48 h with the final offer; ends on an order.",
        "trigger_type": "event",
        "trigger_event": "Checkout Started",
        "goal_events": ["Order Completed"],
        "reentry": "per_days",
        "reentry_days": 7,
        "templates": [
            email(
                "cart-reminder",
                "Cart: reminder",
                "You left something behind",
                "Still thinking it over?",
            ),
            sms(
                "cart-nudge",
                "Cart: SMS nudge",
                "your cart is saved. Finish your order: https://shop.example.com/cart",
            ),
            email(
                "cart-second",
                "Cart: second email",
                "Your cart expires soon",
                "Your cart is about to expire",
            ),
            sms(
                "cart-final-offer",
                "Cart: final offer",
                "last chance: 10% off your cart with code CART10 https://shop.example.com/cart",
            ),
        ],
        "steps": [
            wait("wait-1h", "cart-email", hours=1),
            send("cart-email", "email", "cart-reminder", "opened-email"),
            {
                "key": "opened-email",
                "type": "wait_for_engagement",
                "yes": "wait-to-24h",
                "no": "cart-sms",
                "settings": {"step": "cart-email", "hours": 4, "opened": True, "clicked": True},
            },
            send(
                "cart-sms",
                "sms",
                "cart-nudge",
                "wait-to-24h",
                unless_engaged_with="cart-email",
                expiry_hours=12,
            ),
            wait("wait-to-24h", "second-email", hours=19),
            send("second-email", "email", "cart-second", "wait-to-48h"),
            wait("wait-to-48h", "final-sms", hours=24),
            send("final-sms", "sms", "cart-final-offer"),
        ],
    },
    {
        "template_key": "welcome",
        "name": "Welcome",
        "description": "SMS at once with a code; email on day 1; email on day 3; SMS on day 5 "
        "if no purchase; email on day 7.",
        "trigger_type": "subscribed",
        "reentry": "once",
        "templates": [
            sms(
                "welcome-code",
                "Welcome: code",
                "welcome! Here is 15% off your first order: WELCOME15",
            ),
            email("welcome-day1", "Welcome: day 1", "Welcome to the shop", "Glad you're here"),
            email("welcome-day3", "Welcome: day 3", "Our best sellers", "What people love"),
            sms(
                "welcome-day5",
                "Welcome: day 5 reminder",
                "your WELCOME15 code is still waiting https://shop.example.com/",
            ),
            email("welcome-day7", "Welcome: day 7", "A week with us", "Thanks for a great week"),
        ],
        "steps": [
            send("code-sms", "sms", "welcome-code", "wait-day1"),
            wait("wait-day1", "email-day1", days=1),
            send("email-day1", "email", "welcome-day1", "wait-day3"),
            wait("wait-day3", "email-day3", days=2),
            send("email-day3", "email", "welcome-day3", "wait-day5"),
            wait("wait-day5", "bought", days=2),
            {
                "key": "bought",
                "type": "branch",
                "yes": "wait-day7",
                "no": "sms-day5",
                "settings": {"kind": "event", "event": "Order Completed", "within_days": 5},
            },
            send("sms-day5", "sms", "welcome-day5", "wait-day7"),
            wait("wait-day7", "email-day7", days=2),
            send("email-day7", "email", "welcome-day7"),
        ],
    },
    {
        "template_key": "post-purchase",
        "name": "Post-purchase reorder",
        "description": "Email on day 0, day 7 and day 25; SMS on day 28 if the day-25 email "
        "was not opened.",
        "trigger_type": "event",
        "trigger_event": "Order Completed",
        "reentry": "per_days",
        "reentry_days": 20,
        "templates": [
            email(
                "order-thanks",
                "Reorder: thank you",
                "Thanks for your order",
                "Thank you for shopping with us",
            ),
            email(
                "order-tips",
                "Reorder: day 7 tips",
                "Getting the most from your order",
                "Tips for your new things",
            ),
            email("order-reorder", "Reorder: day 25", "Time to stock up?", "Running low?"),
            sms(
                "order-reorder-sms",
                "Reorder: day 28 SMS",
                "running low? Reorder in one tap https://shop.example.com/reorder",
            ),
        ],
        "steps": [
            send("thanks", "email", "order-thanks", "wait-day7"),
            wait("wait-day7", "tips", days=7),
            send("tips", "email", "order-tips", "wait-day25"),
            wait("wait-day25", "reorder", days=18),
            send("reorder", "email", "order-reorder", "opened-reorder"),
            {
                "key": "opened-reorder",
                "type": "wait_for_engagement",
                "yes": "done",
                "no": "reorder-sms",
                "settings": {"step": "reorder", "hours": 72, "opened": True, "clicked": True},
            },
            send("reorder-sms", "sms", "order-reorder-sms", unless_engaged_with="reorder"),
            {"key": "done", "type": "exit", "settings": {"reason": "engaged with reorder"}},
        ],
    },
    {
        "template_key": "win-back",
        "name": "Win-back",
        "description": "Email at 30 days inactive; SMS at day 35; email at day 45; SMS at day "
        "60; email at day 90 asking to update preferences. Needs a last_order_date trait.",
        "trigger_type": "date_trait",
        "trigger_settings": {"trait": "last_order_date", "days_before": -30},
        "goal_events": ["Order Completed"],
        "reentry": "per_days",
        "reentry_days": 90,
        "templates": [
            email("winback-30", "Win-back: day 30", "We miss you", "It's been a while"),
            sms(
                "winback-35",
                "Win-back: day 35 SMS",
                "we miss you! 15% off with code COMEBACK15 https://shop.example.com/",
            ),
            email(
                "winback-45",
                "Win-back: day 45",
                "New things since your last visit",
                "See what's new",
            ),
            sms(
                "winback-60",
                "Win-back: day 60 SMS",
                "still there? Your COMEBACK15 code ends soon https://shop.example.com/",
            ),
            email(
                "winback-90",
                "Win-back: day 90",
                "Should we keep writing?",
                "Tell us what you'd like to hear about",
                topic="news",
            ),
        ],
        "steps": [
            send("email-30", "email", "winback-30", "wait-35"),
            wait("wait-35", "sms-35", days=5),
            send("sms-35", "sms", "winback-35", "wait-45"),
            wait("wait-45", "email-45", days=10),
            send("email-45", "email", "winback-45", "wait-60"),
            wait("wait-60", "sms-60", days=15),
            send("sms-60", "sms", "winback-60", "wait-90"),
            wait("wait-90", "email-90", days=30),
            send("email-90", "email", "winback-90"),
        ],
    },
    {
        "template_key": "vip",
        "name": "VIP",
        "description": "Triggered by the 5th order or a lifetime value of 500; SMS at once; "
        "email on day 1.",
        "trigger_type": "event",
        "trigger_event": "Order Completed",
        "trigger_settings": {"min_count": 5, "min_value_total": 500},
        "reentry": "once",
        "templates": [
            sms(
                "vip-welcome-sms",
                "VIP: welcome SMS",
                "you're a VIP now! Early access starts today https://shop.example.com/vip",
            ),
            email("vip-welcome", "VIP: welcome email", "Welcome to VIP", "You're one of our best"),
        ],
        "steps": [
            send("vip-sms", "sms", "vip-welcome-sms", "wait-day1"),
            wait("wait-day1", "vip-email", days=1),
            send("vip-email", "email", "vip-welcome"),
        ],
    },
]
