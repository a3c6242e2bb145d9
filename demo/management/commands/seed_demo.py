import random

from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils import timezone

from compliance.models import CapKind, DisclosureText, FrequencyCap
from compliance.services import consent_record
from demo.data import EMAIL_CONSENT, SMS_CONSENT, consent_plan, person, shopping_history
from profiles.models import Event, EventSource, Profile

DISCLOSURES = {
    "email": "Yes, email me offers and news from TandemShop. Unsubscribe any time.",
    "sms": "Yes, text me offers from TandemShop at this number. Up to 6 msgs/month. "
    "Consent is not a condition of purchase. Msg & data rates may apply. "
    "Reply HELP for help, STOP to cancel.",
}


# The person the README's walk-throughs use (userId "demo-star" in the API examples).
STAR = {
    "external_id": "demo-star", "email": "dana.demo@example.com", "phone": "+12125550199",
    "first_name": "Dana", "last_name": "Demo", "time_zone": "America/New_York",
    "country": "US", "locale": "en-US", "traits": {"loyalty_tier": "gold", "demo": True},
}  # fmt: skip
# Her counterpart on the other side of the world: for most of New York's night (quiet hours
# hold marketing SMS, test sends included) it is daytime in Auckland; from about 08:00 to
# 13:00 UTC it is night in both.
STAR_FAR = {
    "external_id": "demo-star-nz", "email": "aroha.demo@example.com", "phone": "+64215550199",
    "first_name": "Aroha", "last_name": "Demo", "time_zone": "Pacific/Auckland",
    "country": "NZ", "locale": "en-NZ", "traits": {"loyalty_tier": "silver", "demo": True},
}  # fmt: skip


class Command(BaseCommand):
    help = "Seed demo profiles with events (idempotent: skips when demo data exists)."

    def add_arguments(self, parser):
        parser.add_argument("--profiles", type=int, default=300)
        parser.add_argument("--reset", action="store_true", help="Delete demo data first")

    def handle(self, *args, profiles: int, reset: bool, **options):
        demo = Profile.objects.filter(external_id__startswith="demo-")
        if reset:
            demo.delete()
        elif demo.exists():
            self.stdout.write(f"Demo data present ({demo.count()} profiles); use --reset.")
            return
        with transaction.atomic():
            created = self._seed(profiles)
            gap = self._gap_on_journey_time()
        self.stdout.write(f"Seeded {created} demo profiles.")
        if gap:
            self.stdout.write(
                f"Minimum gap between marketing messages: {gap} min, to match journey time "
                "(Compliance > Frequency caps)."
            )

    def _seed(self, count: int) -> int:
        rng, now = random.Random(42), timezone.now()
        people = Profile.objects.bulk_create(Profile(**person(i, rng)) for i in range(count))
        events = [
            Event(
                profile=profile,
                name=item["name"],
                properties=item["properties"],
                occurred_at=item["at"],
                value=item.get("value"),
                source=EventSource.DEMO,
            )
            for profile in Profile.objects.filter(external_id__startswith="demo-")
            for item in shopping_history(rng, now)
        ]
        Event.objects.bulk_create(events, batch_size=500)
        self._consent(rng)
        self._star(disclosure_for=DisclosureText.objects.filter(key__startswith="demo-signup-"))
        return len(people) + 2

    def _star(self, *, disclosure_for) -> None:
        """Two known people, subscribed to both channels, for the walk-throughs."""
        for known in (STAR, STAR_FAR):
            star = Profile.objects.create(**known)
            for channel in ("email", "sms"):
                consent_record(
                    profile=star, channel=channel, action="opt_in", source="signup_form",
                    disclosure=disclosure_for.get(channel=channel),
                    evidence={"demo": True, "ip": "198.51.100.7", "user_agent": "seed_demo"},
                )  # fmt: skip

    def _gap_on_journey_time(self) -> int | None:
        """Scale the minimum-gap caps with JOURNEY_TIME_SCALE (demo only).

        Caps run on real time, so an hour's gap would hold the cart SMS (four journey hours,
        four minutes, after the email) past its expiry and the walk-through would never show
        it. The gap shrinks as journey time does; the other caps are left alone."""
        scale = getattr(settings, "JOURNEY_TIME_SCALE", 1) or 1
        if scale <= 1:
            return None
        gap = None
        for cap in FrequencyCap.objects.filter(kind=CapKind.GAP, min_gap_minutes__isnull=False):
            cap.min_gap_minutes = gap = max(1, round(cap.min_gap_minutes / scale))
            cap.save(update_fields=["min_gap_minutes"])
        return gap

    def _consent(self, rng: random.Random) -> None:
        disclosures = {
            channel: DisclosureText.objects.get_or_create(
                key=f"demo-signup-{channel}", version=1, channel=channel,
                defaults={"text": text},
            )[0]
            for channel, text in DISCLOSURES.items()
        }  # fmt: skip
        for profile in Profile.objects.filter(external_id__startswith="demo-"):
            for channel, plans in (("email", EMAIL_CONSENT), ("sms", SMS_CONSENT)):
                plan = consent_plan(rng, plans)
                if plan is None or not (profile.email if channel == "email" else profile.phone):
                    continue
                consent_record(
                    profile=profile,
                    channel=channel,
                    action=plan[0],
                    source=plan[1],
                    disclosure=disclosures[channel],
                    evidence={"demo": True, "ip": "198.51.100.7", "user_agent": "seed_demo"},
                )
