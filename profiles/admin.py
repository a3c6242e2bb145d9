from django import forms
from django.contrib import admin, messages
from django.utils import timezone
from django.utils.html import format_html
from import_export.admin import ImportExportModelAdmin

from profiles import hooks
from profiles.admin_base import ReadOnlyAdmin
from profiles.imports import admin_jobs  # noqa: F401 (registers ImportJobAdmin)
from profiles.imports.admin_flow import (
    ProfileConfirmImportForm,
    ProfileImportForm,
    ProfileImportResource,
    SafeCSV,
    options_from,
)
from profiles.models import ApiToken, Event, Profile, ProfileMerge


class HasValueFilter(admin.SimpleListFilter):
    field_name = ""

    def lookups(self, request, model_admin):
        return [("yes", "Yes"), ("no", "No")]

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.filter(**{f"{self.field_name}__isnull": False})
        if self.value() == "no":
            return queryset.filter(**{f"{self.field_name}__isnull": True})
        return queryset


class HasEmailFilter(HasValueFilter):
    title = "has email"
    parameter_name = "has_email"
    field_name = "email"


class HasPhoneFilter(HasValueFilter):
    title = "has phone"
    parameter_name = "has_phone"
    field_name = "phone"


class ProfileAdminForm(forms.ModelForm):
    class Meta:
        model = Profile
        fields = ["external_id", "email", "phone", "first_name", "last_name"]
        fields += ["time_zone", "locale", "country", "traits"]

    def clean_email(self) -> str | None:
        # Lower-case before the unique check: Profile.save() would lower-case it after,
        # and "ADA@example.com" next to "ada@example.com" would fail in the database.
        email = self.cleaned_data.get("email")
        return self._unused("email", email.strip().lower() if email else None)

    def clean_external_id(self) -> str | None:
        return self._unused("external_id", self.cleaned_data.get("external_id") or None)

    def clean_phone(self):
        return self._unused("phone", self.cleaned_data.get("phone") or None)

    def _unused(self, name: str, value):
        """The value, or a field error naming the profile that already has it."""
        if value:
            owner = Profile.objects.filter(**{name: value}).exclude(pk=self.instance.pk).first()
            if owner is not None:
                raise forms.ValidationError(f"Profile {owner.pk} ({owner}) already has this.")
        return value


@admin.register(Profile)
class ProfileAdmin(ImportExportModelAdmin):
    form = ProfileAdminForm
    resource_classes = [ProfileImportResource]
    import_form_class = ProfileImportForm
    confirm_form_class = ProfileConfirmImportForm
    import_export_change_list_template = "admin/profiles/profile/change_list_import_export.html"
    import_template_name = "admin/profiles/profile/import.html"
    list_display = ["display_name", "email", "phone", "external_id", "time_zone", "created_at"]
    list_display_links = ["display_name"]
    search_fields = ["email", "phone", "first_name", "last_name", "external_id"]
    list_filter = [HasEmailFilter, HasPhoneFilter, "country", "time_zone", "created_at"]
    date_hierarchy = "created_at"
    readonly_fields = ["created_at", "updated_at"]
    show_full_result_count = False
    list_per_page = 50
    fieldsets = [
        (None, {"fields": ["external_id", "email", "phone"]}),
        ("Person", {"fields": ["first_name", "last_name", "time_zone", "locale", "country"]}),
        ("Traits", {"fields": ["traits"]}),
        ("Record", {"fields": ["created_at", "updated_at"], "classes": ["collapse"]}),
    ]

    @admin.display(description="Name", ordering="last_name")
    def display_name(self, obj: Profile) -> str:
        return obj.full_name or "—"

    @property
    def import_formats(self):
        return [SafeCSV]

    @property
    def export_formats(self):
        return [SafeCSV]

    def has_import_permission(self, request):
        return request.user.has_perm("profiles.add_importjob")

    def has_export_permission(self, request):
        return self.has_view_permission(request)

    def get_import_resource_kwargs(self, request, **kwargs):
        return {"options": options_from(kwargs.get("form"), request.user)}

    def get_confirm_form_initial(self, request, import_form):
        initial = super().get_confirm_form_initial(request, import_form)
        if import_form is not None:
            names = ("source_name", "email_consent", "sms_consent", "overwrite")
            initial.update({name: import_form.cleaned_data.get(name) for name in names})
            initial["mapping"] = import_form.data.get("mapping", "")
        return initial

    def import_action(self, request, **kwargs):
        """The stock preview, plus confirming a file whose only problems are bad rows.

        Stock django-import-export offers no confirm while any row is invalid; an ops
        person importing a list wants the good rows in and the bad ones reported.
        """
        response = super().import_action(request, **kwargs)
        context = getattr(response, "context_data", None) or {}
        result = context.get("result")
        if result and not result.has_errors() and "confirm_form" not in context:
            context["confirm_form"] = self.create_confirm_form(request, context["form"])
        return response

    def change_view(self, request, object_id, form_url="", extra_context=None):
        extra_context = extra_context or {}
        profile = self.get_object(request, object_id)
        if profile is not None:
            extra_context["timeline"] = hooks.timeline_for(profile, limit=200)
            extra_context["merges"] = profile.merges.all()[:20]
        return super().change_view(request, object_id, form_url, extra_context)


@admin.register(Event)
class EventAdmin(ReadOnlyAdmin):
    list_display = ["name", "profile_link", "channel", "source", "value", "occurred_at"]
    list_filter = ["source", "channel", "occurred_at"]
    search_fields = ["name", "profile__email", "profile__external_id", "idempotency_key"]
    date_hierarchy = "occurred_at"
    list_select_related = ["profile"]
    show_full_result_count = False

    @admin.display(description="Profile", ordering="profile")
    def profile_link(self, obj: Event):
        return format_html('<a href="{}">{}</a>', obj.profile.get_absolute_url(), obj.profile)


@admin.register(ProfileMerge)
class ProfileMergeAdmin(ReadOnlyAdmin):
    list_display = ["survivor", "merged_profile_id", "reason", "created_at"]
    search_fields = ["survivor__email", "reason"]
    list_select_related = ["survivor"]


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    list_display = ["name", "token_prefix", "created_by", "created_at", "last_used_at", "status"]
    list_filter = [("revoked_at", admin.EmptyFieldListFilter)]
    search_fields = ["name", "token_prefix"]
    fields = ["name", "token_prefix", "created_by", "created_at", "last_used_at", "revoked_at"]
    readonly_fields = ["token_prefix", "created_by", "created_at", "last_used_at", "revoked_at"]
    actions = ["revoke"]

    @admin.display(description="Status")
    def status(self, obj: ApiToken) -> str:
        return "active" if obj.is_active else "revoked"

    def has_delete_permission(self, request, obj=None):
        return False  # revoke instead, so the audit trail stays

    def save_model(self, request, obj, form, change):
        if change:
            super().save_model(request, obj, form, change)
            return
        token, raw = ApiToken.generate(name=obj.name, created_by=request.user)
        obj.pk, obj.token_prefix = token.pk, token.token_prefix
        messages.warning(
            request, f"API token for “{token.name}”: {raw} — copy it now, it is not shown again."
        )

    @admin.action(description="Revoke selected tokens", permissions=["change"])
    def revoke(self, request, queryset):
        count = queryset.filter(revoked_at__isnull=True).update(revoked_at=timezone.now())
        self.message_user(request, f"Revoked {count} token(s).")
