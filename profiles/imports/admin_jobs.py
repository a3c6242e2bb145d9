"""Admin for background imports: upload with options, a live progress bar, the error file."""

import csv
import io

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import (
    FileResponse,
    Http404,
    HttpResponseNotAllowed,
    HttpResponseRedirect,
    JsonResponse,
)
from django.shortcuts import get_object_or_404
from django.urls import path, reverse

from profiles.imports.formats import MappingError, parse_mapping, plan_for
from profiles.imports.jobs import ImportRefused, check_declarations, import_job_start, is_stale
from profiles.imports.reading import FileUnreadable, read_text
from profiles.models import ImportJob, ImportStatus

HEADER_BYTES = 65536
COUNTS = ("created", "updated", "unchanged", "failed", "consent_applied", "consent_refused")


class ImportJobForm(forms.ModelForm):
    mapping_text = forms.CharField(
        label="Column mapping",
        required=False,
        help_text="Optional, overrides the guess: 'E-mail=email,Mobil=phone,Notes=-'. Fields: "
        "email, phone, external_id, first_name, last_name, full_name, time_zone, locale, "
        "country, email_consent(_at), sms_consent(_at), traits.<name>, or - to skip.",
    )

    class Meta:
        model = ImportJob
        fields = ["file", "source_name", "email_consent", "sms_consent", "overwrite"]
        fields += ["enrol_in_journeys", "dry_run"]

    def clean(self):
        data = super().clean()
        upload = data.get("file")
        if upload is None or self.errors:
            return data
        try:
            data["mapping"] = parse_mapping(data.get("mapping_text") or "")
            check_declarations(plan_for(_headers(upload), data["mapping"]),
                               email_consent=data.get("email_consent", False),
                               sms_consent=data.get("sms_consent", False),
                               source_name=data.get("source_name", ""))  # fmt: skip
        except (MappingError, ImportRefused, FileUnreadable) as exc:
            raise forms.ValidationError(str(exc)) from exc
        return data


def _headers(upload) -> list[str]:
    upload.seek(0)
    head = upload.read(HEADER_BYTES)
    upload.seek(0)
    text, delimiter = read_text(head)
    first = next(csv.reader(io.StringIO(text), delimiter=delimiter), None)
    if not first or not any(c.strip() for c in first):
        raise FileUnreadable("the file is empty or its first line (the header) is blank")
    return [c.strip() for c in first]


@admin.register(ImportJob)
class ImportJobAdmin(admin.ModelAdmin):
    form = ImportJobForm
    list_display = ["__str__", "status", "format", "progress", "created", "updated"]
    list_display += ["unchanged", "failed", "created_by", "created_at"]
    list_filter = ["status", "format", "dry_run"]
    search_fields = ["original_name", "source_name"]
    change_form_template = "admin/profiles/importjob/change_form.html"
    readonly = ["status", "original_name", "format", "plan", "mapping", "source_name"]
    readonly += ["email_consent", "sms_consent", "overwrite", "enrol_in_journeys", "dry_run"]
    readonly += [*COUNTS, "rows_processed", "rows_total", "committed_offset", "error_message"]
    readonly += ["created_by", "created_at", "started_at", "finished_at"]

    @admin.display(description="Progress")
    def progress(self, obj: ImportJob) -> str:
        return f"{obj.percent}%"

    def get_fields(self, request, obj=None):
        if obj is None:
            return ["file", "mapping_text", "source_name", "email_consent", "sms_consent",
                    "overwrite", "enrol_in_journeys", "dry_run"]  # fmt: skip
        return self.readonly

    def get_readonly_fields(self, request, obj=None):
        return self.readonly if obj is not None else []

    def has_delete_permission(self, request, obj=None):
        return False  # consent evidence points at the job

    def save_model(self, request, obj, form, change):
        if change:
            return
        obj.created_by = request.user
        obj.original_name = form.cleaned_data["file"].name
        obj.mapping = form.cleaned_data.get("mapping", {})
        obj.save()
        import_job_start(job=obj)

    def response_add(self, request, obj, post_url_continue=None):
        # Straight to the job's page, where its progress bar runs.
        messages.success(request, f"Import {obj.pk} queued: {obj.original_name}.")
        return HttpResponseRedirect(reverse("admin:profiles_importjob_change", args=[obj.pk]))

    def get_urls(self):
        own = [
            path("<int:pk>/progress/", self.admin_site.admin_view(self.progress_view),
                 name="profiles_importjob_progress"),
            path("<int:pk>/errors/", self.admin_site.admin_view(self.errors_view),
                 name="profiles_importjob_errors"),
            path("<int:pk>/run/", self.admin_site.admin_view(self.run_view),
                 name="profiles_importjob_run"),
        ]  # fmt: skip
        return own + super().get_urls()

    def _job(self, request, pk: int) -> ImportJob:
        job = get_object_or_404(ImportJob, pk=pk)
        if not self.has_view_permission(request, job):
            raise PermissionDenied
        return job

    def progress_view(self, request, pk: int):
        job = self._job(request, pk)
        data = {name: getattr(job, name) for name in (*COUNTS, "rows_processed", "rows_total")}
        data.update(status=job.status, status_label=job.get_status_display(),
                    percent=job.percent, finished=job.is_finished,
                    error_message=job.error_message)  # fmt: skip
        return JsonResponse(data)

    def errors_view(self, request, pk: int):
        job = self._job(request, pk)
        if not job.error_file:
            raise Http404("no error file yet")
        name = f"import-{job.pk}-errors.csv"
        return FileResponse(job.error_file.open("rb"), as_attachment=True, filename=name)

    @staticmethod
    def _run_options(job: ImportJob) -> dict:
        # Confirming a preview starts the same job over for real; resuming keeps the offset.
        if job.dry_run and job.status == ImportStatus.DONE:
            zeroes = dict.fromkeys((*COUNTS, "rows_processed", "committed_offset"), 0)
            return {**zeroes, "dry_run": False, "started_at": None, "finished_at": None}
        return {}

    def run_view(self, request, pk: int):
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        job = self._job(request, pk)
        if not self.has_change_permission(request, job) and not self.has_add_permission(request):
            raise PermissionDenied
        runnable = (
            job.status == ImportStatus.FAILED
            or (job.dry_run and job.is_finished)
            or is_stale(job)  # its worker died: resume from the last committed batch
        )
        if not runnable:
            messages.error(
                request, "Only a finished preview, a failed job or a stalled one can be run."
            )
        else:
            fields = {**self._run_options(job), "status": ImportStatus.QUEUED, "error_message": ""}
            ImportJob.objects.filter(pk=job.pk).update(**fields)
            import_job_start(job=job)
            messages.success(request, f"Import {job.pk} queued.")
        return HttpResponseRedirect(reverse("admin:profiles_importjob_change", args=[job.pk]))
