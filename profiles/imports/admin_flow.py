"""The admin's django-import-export flow: preview (dry run), confirm, export.

Small files go row by row through ProfileImportResource, with the same fields, widgets,
dedupe and consent rules as the fast path; a confirmed import is recorded as an ImportJob
so its consent rows carry the job as evidence. Big files go to a background ImportJob.
"""

import csv
import io
from dataclasses import dataclass, field

import tablib
from django import forms
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.db import transaction
from django.utils import timezone
from import_export.formats import base_formats
from import_export.forms import ConfirmImportForm, ImportForm
from import_export.results import RowResult

from profiles.imports import consent
from profiles.imports.errors import escape_formula
from profiles.imports.fastpath import ProfileIndex, SeenKeys
from profiles.imports.formats import MappingError, parse_mapping, plan_for
from profiles.imports.jobs import ImportRefused, check_declarations
from profiles.imports.reading import read_text
from profiles.imports.resource import (
    WRITABLE,
    ProfileResource,
    RowInvalid,
    profile_changes,
    row_values,
)
from profiles.models import ImportJob, ImportStatus, Profile


class SafeCSV(base_formats.CSV):
    """CSV read as it comes (BOM, Latin-1, any delimiter), written formula-safe."""

    def get_read_mode(self):
        return "rb"

    def is_binary(self):
        return True

    def create_dataset(self, in_stream, **kwargs):
        data = in_stream if isinstance(in_stream, bytes) else in_stream.encode()
        text, delimiter = read_text(data)
        records = list(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter))
        # Each kept row's line as the background job numbers it (the header is line 1, blank
        # records count but are not rows), so the preview names the same lines.
        kept = [(i, r) for i, r in enumerate(records, start=1) if any(c.strip() for c in r)]
        if not kept:
            return tablib.Dataset()
        (header_line, headers), rows = kept[0], kept[1:]
        width = len(headers)
        body = [(r + [""] * width)[:width] for _, r in rows]
        dataset = tablib.Dataset(*body, headers=[h.strip() for h in headers])
        dataset.tandem_lines = [line - header_line + 1 for line, _ in rows]
        return dataset

    def _escape_formulae(self, dataset):
        # OWASP: prefix a quote, rather than the stock removal of a leading "=".
        for _ in range(len(dataset)):
            row = dataset.lpop()
            dataset.append([escape_formula(str(cell)) for cell in row])


@dataclass
class ImportOptions:
    mapping: dict[str, str] = field(default_factory=dict)
    source_name: str = ""
    email_consent: bool = False
    sms_consent: bool = False
    overwrite: bool = False
    user: object = None


class OptionFields(forms.Form):
    mapping = forms.CharField(
        required=False,
        help_text="Optional: column=field pairs, e.g. 'E-mail=email,Mobil=phone,Notes=-'.",
    )
    source_name = forms.CharField(
        required=False, max_length=200, help_text="Where the list comes from (shown as evidence)."
    )
    email_consent = forms.BooleanField(
        required=False, label="Everyone with an email here opted in to email (declaration)"
    )
    sms_consent = forms.BooleanField(
        required=False, label="Everyone with a mobile here opted in to SMS (declaration)"
    )
    overwrite = forms.BooleanField(
        required=False, label="Overwrite existing values (default: fill empty fields only)"
    )

    def clean_mapping(self):
        try:
            return parse_mapping(self.cleaned_data.get("mapping") or "")
        except MappingError as exc:
            raise ValidationError(str(exc)) from exc


class ProfileImportForm(OptionFields, ImportForm):
    pass


class ProfileConfirmImportForm(OptionFields, ConfirmImportForm):
    pass


def options_from(form, user) -> ImportOptions:
    data = form.cleaned_data if form is not None and form.is_bound and form.is_valid() else {}
    names = ("mapping", "source_name", "email_consent", "sms_consent", "overwrite")
    return ImportOptions(**{n: data[n] for n in names if n in data}, user=user)


class ProfileImportResource(ProfileResource):
    """ProfileResource row by row, for the admin's preview and confirm."""

    def __init__(self, options: ImportOptions | None = None, **kwargs):
        super().__init__(**kwargs)
        self.options = options or ImportOptions()
        self.seen, self.claimed, self.landed = SeenKeys(), {}, []
        self.current, self.changed, self.plan, self.original = None, False, None, b""
        self.lines: list[int] | None = None

    def before_import(self, dataset, **kwargs):
        try:
            self._canonical(dataset)
        except (MappingError, ImportRefused, ValidationError) as exc:
            dataset.wipe()
            raise ValidationError(str(exc)) from exc

    def _canonical(self, dataset) -> None:
        limit = settings.IMPORT_ADMIN_MAX_ROWS
        if len(dataset) > limit:
            raise ValidationError(
                f"{len(dataset):,} rows: files over {limit:,} rows import as a background "
                "job (Import jobs > Add import job), with progress and an error file"
            )
        headers = list(dataset.headers or [])
        self.lines = getattr(dataset, "tandem_lines", None)
        self.plan = plan_for(headers, self.options.mapping)
        check_declarations(self.plan, email_consent=self.options.email_consent,
                           sms_consent=self.options.sms_consent,
                           source_name=self.options.source_name)  # fmt: skip
        self.original = dataset.export("csv").encode()
        values = row_values(self.plan, headers)
        rows = [values(["" if c is None else str(c) for c in r]) for r in dataset]
        names = sorted({name for row in rows for name in row})
        dataset.wipe()
        dataset.headers = names
        for row in rows:
            dataset.append([row.get(name, "") for name in names])

    def before_import_row(self, row, **kwargs):
        number = kwargs.get("row_number", 0)
        line = (
            self.lines[number - 1] if self.lines and 0 < number <= len(self.lines) else number + 1
        )
        values = {k: str(v) for k, v in row.items() if v not in (None, "")}
        try:
            self.current = self.clean_values(line, values)
        except RowInvalid as exc:
            raise ValidationError(str(exc)) from exc
        duplicate = self.seen.first(self.current.keys())
        if duplicate:
            raise ValidationError(duplicate)
        self.seen.add(self.current.keys(), line)

    def get_instance(self, instance_loader, row):
        try:
            found = ProfileIndex.for_rows([self.current]).match(self.current)
        except RowInvalid as exc:
            raise ValidationError(str(exc)) from exc
        if found is None:
            return None
        if found["id"] in self.claimed:
            raise ValidationError(f"duplicate of line {self.claimed[found['id']]} (same profile)")
        self.claimed[found["id"]] = self.current.line
        return Profile.objects.get(pk=found["id"])

    def import_instance(self, instance, row, **kwargs):
        current = {name: str(getattr(instance, name) or "") for name in WRITABLE}
        current["traits"] = instance.traits or {}
        changes = profile_changes(current, self.current, overwrite=self.options.overwrite)
        for name, value in changes.items():
            setattr(instance, name, value)
        self.changed = bool(changes)

    def skip_row(self, instance, original, row, import_validation_errors=None):
        return instance.pk is not None and not self.changed

    def after_import_row(self, row, row_result, **kwargs):
        kinds = (
            RowResult.IMPORT_TYPE_NEW,
            RowResult.IMPORT_TYPE_UPDATE,
            RowResult.IMPORT_TYPE_SKIP,
        )
        if row_result.import_type in kinds and row_result.object_id:
            self.landed.append((self.current, row_result.object_id))

    def after_import(self, dataset, result, **kwargs):
        super().after_import(dataset, result, **kwargs)
        dry_run = self._is_dry_run(kwargs)
        job = None if dry_run or self.plan is None else self._job(result, kwargs.get("file_name"))
        outcomes = consent.write(self._requests(job), dry_run=dry_run)
        result.consent_applied = sum(1 for o in outcomes if o.applied)
        result.consent_refused = sum(1 for o in outcomes if o.applied is False)
        if job is not None:
            ImportJob.objects.filter(pk=job.pk).update(
                consent_applied=result.consent_applied, consent_refused=result.consent_refused
            )

    def _requests(self, job: ImportJob | None) -> list:
        policy = consent.ConsentPolicy(
            job_id=job.pk if job else None,
            file_name=job.original_name if job else "",
            source_name=self.options.source_name,
            email_declared=self.options.email_consent,
            sms_declared=self.options.sms_consent,
            declared_by=str(self.options.user or ""),
            started_at=timezone.now(),
            columns={t: self.plan.columns_for(t) for t in ("email_consent", "sms_consent")}
            if self.plan
            else {},
        )
        finals = Profile.objects.in_bulk([pk for _, pk in self.landed])
        requests = []
        for row, pk in self.landed:
            profile = finals[int(pk)]
            final = {"email": profile.email, "phone": str(profile.phone or "")}
            requests += policy.requests_for(row, int(pk), final)[0]
        return requests

    def _job(self, result, file_name: str | None) -> ImportJob:
        totals = result.totals
        job = ImportJob(
            status=ImportStatus.DONE, original_name=file_name or "admin-import.csv",
            format=self.plan.format, mapping=self.options.mapping,
            plan={"mapping": self.plan.mapping, "constants": self.plan.constants},
            source_name=self.options.source_name, email_consent=self.options.email_consent,
            sms_consent=self.options.sms_consent, overwrite=self.options.overwrite,
            created=totals[RowResult.IMPORT_TYPE_NEW],
            updated=totals[RowResult.IMPORT_TYPE_UPDATE],
            unchanged=totals[RowResult.IMPORT_TYPE_SKIP],
            failed=totals[RowResult.IMPORT_TYPE_INVALID],
            rows_processed=result.total_rows, rows_total=result.total_rows,
            created_by=self.options.user if getattr(self.options.user, "pk", None) else None,
            started_at=timezone.now(), finished_at=timezone.now(),
        )  # fmt: skip
        job.file.save(job.original_name, ContentFile(self.original), save=False)
        with transaction.atomic():
            job.save()
        return job
