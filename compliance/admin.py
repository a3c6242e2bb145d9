import json

from django import forms
from django.contrib import admin, messages
from django.http import HttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html_join
from django.utils.safestring import mark_safe
from django.utils.text import Truncator

from compliance import services, sms_inbound, tokens
from compliance.evidence import evidence_pack
from compliance.models import (
    ConsentAction,
    ConsentEvent,
    ConsentSource,
    ContactPreference,
    DisclosureText,
    FrequencyCap,
    InboundSms,
    KeywordReview,
    Subscription,
    Suppression,
    Topic,
)
from profiles.admin import ProfileAdmin
from profiles.admin_base import ReadOnlyAdmin
from profiles.forms import ProfileField
from profiles.models import Channel, Profile


@admin.register(Topic)
class TopicAdmin(admin.ModelAdmin):
    list_display = ["name", "key", "category", "is_default", "is_active", "sort_order"]
    list_editable = ["sort_order"]
    list_filter = ["category", "is_active"]
    prepopulated_fields = {"key": ["name"]}

    def has_delete_permission(self, request, obj=None):
        return False  # the ledger points at topics; deactivate instead


@admin.register(DisclosureText)
class DisclosureTextAdmin(admin.ModelAdmin):
    """Versions are added, never edited: the ledger quotes them."""

    list_display = ["key", "version", "channel", "created_at"]
    list_filter = ["key", "channel"]

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.action(description="Export evidence pack (JSON) for these addresses")
def export_evidence(modeladmin, request, queryset):
    addresses = sorted(set(queryset.values_list("channel", "address")))
    packs = [evidence_pack(address=address, channel=channel) for channel, address in addresses]
    response = HttpResponse(
        json.dumps(packs, indent=2, default=str), content_type="application/json"
    )
    stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
    response["Content-Disposition"] = f'attachment; filename="evidence-{stamp}.json"'
    return response


@admin.register(ConsentEvent)
class ConsentEventAdmin(ReadOnlyAdmin):
    """The ledger: read, filter and export; never edited or deleted."""

    list_display = ["occurred_at", "address", "channel", "topic", "action", "source", "applied"]
    list_filter = ["channel", "action", "source", "applied", "occurred_at"]
    search_fields = ["address", "profile__email", "profile__external_id"]
    date_hierarchy = "occurred_at"
    list_select_related = ["topic"]
    actions = [export_evidence]
    show_full_result_count = False


@admin.register(Suppression)
class SuppressionAdmin(ReadOnlyAdmin):
    list_display = ["address", "channel", "reason", "source", "created_at", "lifted_at"]
    list_filter = ["channel", "reason", ("lifted_at", admin.EmptyFieldListFilter)]
    search_fields = ["address"]
    actions = [export_evidence]


class ConsentChangeForm(forms.Form):
    profile = ProfileField()
    channel = forms.ChoiceField(choices=Channel.choices)
    topic = forms.ModelChoiceField(queryset=Topic.objects.all(), required=False,
                                   help_text="Empty: the whole channel")  # fmt: skip
    action = forms.ChoiceField(choices=[(ConsentAction.OPT_IN, "Opt in"),
                                        (ConsentAction.OPT_OUT, "Opt out")])  # fmt: skip
    reason = forms.CharField(max_length=500, widget=forms.Textarea(attrs={"rows": 3}),
                             help_text="Required: why, and on whose request")  # fmt: skip


@admin.register(Subscription)
class SubscriptionAdmin(ReadOnlyAdmin):
    list_display = ["profile", "channel", "topic", "status", "source", "updated_at"]
    list_filter = ["channel", "status", "source", "topic"]
    search_fields = ["profile__email", "profile__phone", "profile__external_id"]
    list_select_related = ["profile", "topic"]
    change_list_template = "admin/compliance/subscription/change_list.html"

    def get_urls(self):
        record = self.admin_site.admin_view(self.record_change_view)
        return [path("record/", record, name="compliance_subscription_record"), *super().get_urls()]

    def record_change_view(self, request):
        if not request.user.has_perm("compliance.add_consentevent"):
            messages.error(request, "You may not record consent changes.")
            return redirect(reverse("admin:compliance_subscription_changelist"))
        form = ConsentChangeForm(request.POST or None, initial=request.GET.dict())
        if request.method == "POST" and form.is_valid():
            try:
                event = self._record(request, form.cleaned_data)
            except ValueError as exc:
                form.add_error(None, str(exc))
            else:
                level = messages.SUCCESS if event.applied else messages.WARNING
                messages.add_message(request, level, f"Recorded on the ledger: {event.outcome}.")
                return redirect(reverse("admin:compliance_subscription_changelist"))
        context = {**self.admin_site.each_context(request), "form": form,
                   "title": "Record a consent change", "opts": self.model._meta}  # fmt: skip
        return TemplateResponse(request, "admin/compliance/record_change.html", context)

    def _record(self, request, data) -> ConsentEvent:
        return services.consent_record(
            profile=data["profile"],
            channel=data["channel"],
            action=data["action"],
            topic=data["topic"],
            source=ConsentSource.ADMIN,
            actor=request.user,
            evidence={"reason": data["reason"], "admin_user": request.user.get_username()},
        )


@admin.register(FrequencyCap)
class FrequencyCapAdmin(admin.ModelAdmin):
    """Marketing frequency rules across both channels; the first rule breached decides."""

    list_display = ["name", "kind", "channel", "limit", "action", "is_active", "position"]
    list_editable = ["action", "is_active", "position"]
    list_filter = ["kind", "channel", "action", "is_active"]
    fieldsets = [
        (None, {"fields": ["name", "key", "kind", "channel", "action", "is_active", "position"]}),
        ("Count rule", {"fields": ["max_messages", "window_hours"]}),
        ("Gap rule", {"fields": ["min_gap_minutes"]}),
    ]
    prepopulated_fields = {"key": ["name"]}

    @admin.display(description="Limit")
    def limit(self, obj: FrequencyCap) -> str:
        if obj.kind == "count":
            return f"{obj.max_messages} per {obj.window_hours} h"
        if obj.kind == "gap":
            return f"{obj.min_gap_minutes} min apart"
        return "per state table (e.g. 3 per 24 h)"


@admin.register(ContactPreference)
class ContactPreferenceAdmin(ReadOnlyAdmin):
    """Set by the person on the preference centre; read here."""

    list_display = ["profile", "primary_channel", "paused_until", "token_version", "updated_at"]
    list_filter = ["primary_channel"]
    search_fields = ["profile__email", "profile__phone", "profile__external_id"]
    list_select_related = ["profile"]


@admin.register(InboundSms)
class InboundSmsAdmin(ReadOnlyAdmin):
    """Every verified inbound text, once per MessageSid, with what it did."""

    list_display = ["received_at", "from_number", "to_number", "message", "kind", "outcome"]
    list_filter = ["kind", "received_at"]
    search_fields = ["from_number", "message_sid", "body"]
    date_hierarchy = "received_at"
    show_full_result_count = False

    @admin.display(description="Message")
    def message(self, obj: InboundSms) -> str:
        return Truncator(obj.body).chars(60)


@admin.action(description="Treat as opt-out (records it on the ledger)", permissions=["change"])
def treat_as_opt_out(modeladmin, request, queryset):
    settle(request, queryset, sms_inbound.keyword_review_opt_out, "treated as opt-outs")


@admin.action(description="Not an opt-out (SMS marketing resumes)", permissions=["change"])
def not_an_opt_out(modeladmin, request, queryset):
    settle(request, queryset, sms_inbound.keyword_review_dismiss, "dismissed")


def settle(request, queryset, service, verb: str) -> None:
    reviews = queryset.select_related("inbound", "profile")
    done = sum(service(review=review, actor=request.user) for review in reviews)
    messages.success(request, f"{done} review(s) {verb}.")
    if skipped := len(reviews) - done:
        messages.warning(request, f"{skipped} review(s) were already settled; left as they were.")


@admin.register(KeywordReview)
class KeywordReviewAdmin(admin.ModelAdmin):
    """The review list: unclear replies that may be opt-outs; SMS marketing waits on each."""

    list_display = ["created_at", "address", "message", "profile", "status", "reviewed_by",
                    "reviewed_at", "note"]  # fmt: skip
    list_filter = ["status", "created_at", "reviewed_at"]
    search_fields = ["address", "inbound__body", "inbound__message_sid"]
    list_select_related = ["inbound", "profile", "reviewed_by"]
    actions = [treat_as_opt_out, not_an_opt_out]

    @admin.display(description="Message")
    def message(self, obj: KeywordReview) -> str:
        return Truncator(obj.inbound.body).chars(80)

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        # The actions need "change"; a single review is read, never edited by hand.
        return obj is None and super().has_change_permission(request)

    def changelist_view(self, request, extra_context=None):
        open_count = sms_inbound.keyword_reviews_open()
        title = f"Keyword review: {open_count} open"
        if open_count:
            title += " (SMS marketing to these numbers is paused)"
        return super().changelist_view(request, {"title": title, **(extra_context or {})})


# --- On the profile page: the person's own links (compliance reaches down to profiles) ----


@admin.display(description="Customer pages")
def customer_pages(self, obj: Profile) -> str:
    if obj is None or obj.pk is None:
        return "—"
    links = [("Preference centre", tokens.preferences_url(obj))]
    if obj.email:
        links.append(("One-click unsubscribe (email)", tokens.unsubscribe_url(obj)))
    return format_html_join(
        mark_safe("<br>"), '<a href="{}" target="_blank" rel="noopener">{}</a>',
        ((url, label) for label, url in links),
    )  # fmt: skip


@admin.action(description="Retire these people's hosted-page links (old emails stop working)")
def rotate_links(modeladmin, request, queryset):
    for profile in queryset:
        tokens.rotate(profile)
    modeladmin.message_user(request, f"New links for {queryset.count()} profiles.")


ProfileAdmin.customer_pages = customer_pages
ProfileAdmin.readonly_fields = [*ProfileAdmin.readonly_fields, "customer_pages"]
ProfileAdmin.fieldsets = [
    *ProfileAdmin.fieldsets,
    ("Customer pages", {"fields": ["customer_pages"]}),
]
ProfileAdmin.actions = [*ProfileAdmin.actions, rotate_links]
