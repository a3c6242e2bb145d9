from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db.models import Count, Max, Q
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.safestring import mark_safe

from journeys import diagram, routing, services
from journeys.dry_run import dry_run
from journeys.forms import DryRunForm, StepForm, fieldsets_by_type
from journeys.manual import enrol_in_journey
from journeys.models import Enrollment, Journey, JourneyVersion, Step, StepLog
from profiles.admin import ProfileAdmin
from profiles.admin_base import ReadOnlyAdmin

# Manual entry lives on the profile list (journeys may reach down to profiles' admin).
ProfileAdmin.actions = [*ProfileAdmin.actions, enrol_in_journey]


class StepInline(admin.StackedInline):
    model = Step
    form = StepForm
    extra = 0
    ordering = ["position", "id"]

    def get_fieldsets(self, request, obj=None):
        where = ("Step", {"fields": [("key", "name", "type", "position"),
                                     ("next_step", "yes_step", "no_step")]})  # fmt: skip
        advanced = ("Advanced", {"fields": ["settings"], "classes": ["collapse"]})
        return [where, *fieldsets_by_type(), advanced]


@admin.action(description="Activate (publish the draft as a new version if it changed)")
def activate(modeladmin, request, queryset):
    for journey in queryset:
        try:
            version = services.journey_activate(journey=journey, user=request.user)
        except ValidationError as error:
            modeladmin.message_user(request, f"{journey}: {'; '.join(error.messages)}",
                                    messages.ERROR)  # fmt: skip
        else:
            modeladmin.message_user(request, f"{journey} is active on version {version.number}.")


@admin.action(description="Pause (nobody enters or moves on)")
def pause(modeladmin, request, queryset):
    for journey in queryset:
        services.journey_pause(journey=journey)
    modeladmin.message_user(request, f"Paused {queryset.count()} journeys.")


@admin.action(description="Archive (everyone still in it exits)")
def archive(modeladmin, request, queryset):
    exited = sum(services.journey_archive(journey=journey) for journey in queryset)
    modeladmin.message_user(request, f"Archived; {exited} people exited.")


@admin.register(Journey)
class JourneyAdmin(admin.ModelAdmin):
    list_display = ["name", "status", "trigger_type", "trigger_event", "version_number",
                    "active_count", "updated_at"]  # fmt: skip
    list_filter = ["status", "trigger_type"]
    search_fields = ["name", "trigger_event"]
    inlines = [StepInline]
    actions = [activate, pause, archive]
    readonly_fields = ["status", "diagram", "problems"]
    change_form_template = "admin/journeys/journey/change_form.html"
    fieldsets = [
        (None, {"fields": ["name", "description", "status"]}),
        (
            "Trigger",
            {"fields": ["trigger_type", "trigger_event", "trigger_filters", "trigger_settings"]},
        ),  # fmt: skip
        ("Entry and exit", {"fields": ["entry_step", "reentry", "reentry_days", "goal_events"]}),
        ("Flow", {"fields": ["problems", "diagram"]}),
    ]

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        routing.forget()  # its trigger or goals may have changed

    def get_queryset(self, request):
        # The list's two figures in the same query, not two queries a row.
        return (
            super()
            .get_queryset(request)
            .annotate(
                latest_version=Max("versions__number"),
                in_it_now=Count(
                    "enrollments", filter=Q(enrollments__status="active"), distinct=True
                ),
            )
        )

    @admin.display(description="Version", ordering="latest_version")
    def version_number(self, obj):
        return obj.latest_version or "-"

    @admin.display(description="In it now", ordering="in_it_now")
    def active_count(self, obj):
        return obj.in_it_now

    @admin.display(description="Diagram (live version, with counts)")
    def diagram(self, obj):
        version = obj.live_version if obj and obj.pk else None
        if version is None:
            return "Not published yet: activate to publish the draft."
        return mark_safe(diagram.render(version.graph, diagram.step_counts(obj)))  # noqa: S308

    @admin.display(description="Problems in the draft")
    def problems(self, obj):
        if not obj or not obj.pk:
            return "-"
        found = services.journey_validate(journey=obj)
        return "; ".join(found) if found else "None: ready to publish."

    def get_urls(self):
        view = self.admin_site.admin_view(self.dry_run_view)
        return [path("<int:pk>/dry-run/", view, name="journeys_journey_dry_run"),
                *super().get_urls()]  # fmt: skip

    def dry_run_view(self, request, pk):
        journey = get_object_or_404(Journey, pk=pk)
        if not self.has_view_permission(request, journey):
            return redirect(reverse("admin:index"))
        form, walked, error = DryRunForm(request.GET or None), None, ""
        if form.is_valid():
            try:
                walked = dry_run(journey=journey, profile=form.cleaned_data["profile"])
            except ValidationError as exc:
                error = "; ".join(exc.messages)
        context = {**self.admin_site.each_context(request), "journey": journey, "form": form,
                   "walked": walked, "error": error, "opts": self.model._meta,
                   "title": f"Dry run: {journey}"}  # fmt: skip
        return TemplateResponse(request, "admin/journeys/journey/dry_run.html", context)


class StepLogInline(admin.TabularInline):
    model = StepLog
    fields = ["at", "step", "outcome", "reason"]
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Enrollment)
class EnrollmentAdmin(ReadOnlyAdmin):
    list_display = ["profile", "journey", "status", "current_step", "next_run_at", "entered_at",
                    "exit_reason"]  # fmt: skip
    list_filter = ["status", "journey"]
    search_fields = ["profile__email", "profile__phone", "profile__external_id"]
    list_select_related = ["profile", "journey"]
    inlines = [StepLogInline]


@admin.register(JourneyVersion)
class JourneyVersionAdmin(ReadOnlyAdmin):
    list_display = ["journey", "number", "created_at", "created_by"]
    list_filter = ["journey"]
