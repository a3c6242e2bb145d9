from django.contrib import admin
from django.utils import timezone

from channels.models import DeliveryAlert, Link, Message, MessageStatus
from profiles.admin_base import ReadOnlyAdmin


class NeedsAttention(admin.SimpleListFilter):
    title = "needs attention"
    parameter_name = "attention"

    def lookups(self, request, model_admin):
        return [("unknown", "Unknown: check with the provider, never resend blindly")]

    def queryset(self, request, queryset):
        if self.value() == "unknown":
            return queryset.filter(status=MessageStatus.UNKNOWN)
        return queryset


class LinkInline(admin.TabularInline):
    model = Link
    fields = ["code", "url", "clicks", "first_clicked_at"]
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Message)
class MessageAdmin(ReadOnlyAdmin):
    """The outbox: what was sent, as sent. Written by dispatch and webhooks only."""

    list_display = [
        "id",
        "channel",
        "to_address",
        "template",
        "category",
        "status",
        "reason",
        "attempts",
        "created_at",
        "sent_at",
    ]
    list_filter = [NeedsAttention, "status", "channel", "category", "reason", "provider"]
    search_fields = ["to_address", "provider_message_id", "idempotency_key", "subject"]
    list_select_related = ["template"]
    date_hierarchy = "created_at"
    inlines = [LinkInline]
    fieldsets = [
        (None, {"fields": ["profile", "channel", "template", "category", "topic", "status"]}),
        ("Outcome", {"fields": ["reason", "attempts", "scheduled_for", "expires_at"]}),
        ("As sent", {"fields": ["to_address", "subject", "body_text", "body_html", "headers"]}),
        (
            "Provider",
            {
                "fields": [
                    "provider",
                    "provider_message_id",
                    "provider_status",
                    "provider_error_code",
                    "provider_error_text",
                    "segments",
                ]
            },
        ),
        (
            "Times",
            {
                "fields": [
                    "created_at",
                    "rendered_at",
                    "sending_started_at",
                    "sent_at",
                    "delivered_at",
                    "opened_at",
                    "clicked_at",
                ]
            },
        ),
        (
            "Origin",
            {
                "fields": [
                    "idempotency_key",
                    "source_kind",
                    "source_id",
                    "source_step",
                    "trigger_event",
                    "context",
                    "switched_from",
                ]
            },
        ),
    ]
    raw_id_fields = ["profile", "trigger_event", "switched_from"]


@admin.register(Link)
class LinkAdmin(ReadOnlyAdmin):
    list_display = ["code", "url", "message", "clicks", "first_clicked_at", "created_at"]
    search_fields = ["code", "url"]
    raw_id_fields = ["message"]


@admin.action(description="Mark as resolved")
def resolve(modeladmin, request, queryset):
    count = queryset.filter(resolved_at__isnull=True).update(
        resolved_at=timezone.now(), resolved_by=request.user
    )
    modeladmin.message_user(request, f"{count} alert(s) resolved.")


@admin.register(DeliveryAlert)
class DeliveryAlertAdmin(admin.ModelAdmin):
    """Alerts are raised by dispatch; people only resolve them."""

    list_display = ["created_at", "kind", "channel", "address", "message", "resolved_at"]
    list_filter = ["kind", "channel", ("resolved_at", admin.EmptyFieldListFilter)]
    readonly_fields = [f.name for f in DeliveryAlert._meta.fields]
    actions = [resolve]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
