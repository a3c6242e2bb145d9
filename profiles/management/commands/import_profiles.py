"""import_profiles FILE: the same import as the admin's background job, run here and now."""

from pathlib import Path

from django.core.files import File
from django.core.management.base import BaseCommand, CommandError

from profiles.imports.formats import MappingError, parse_mapping
from profiles.imports.jobs import ImportRefused, import_job_plan, import_job_run
from profiles.models import ImportJob, ImportStatus


class Command(BaseCommand):
    help = (
        "Import profiles from a CSV export (Mailchimp, Shopify, Klaviyo or plain). Exits 0 "
        "when the file was processed (bad rows go to the error file), 1 when it cannot be "
        "read or has no email, phone or external id column."
    )

    def add_arguments(self, parser):
        parser.add_argument("file")
        parser.add_argument("--mapping", default="", help="column=field,... (field '-' skips)")
        parser.add_argument("--dry-run", action="store_true", help="validate and count only")
        parser.add_argument("--source", default="", help="where the list comes from")
        parser.add_argument(
            "--email-consent",
            action="store_true",
            help="declare: everyone with an email here opted in to email",
        )
        parser.add_argument(
            "--sms-consent",
            action="store_true",
            help="declare: everyone with a mobile here opted in to SMS",
        )
        parser.add_argument(
            "--overwrite",
            action="store_true",
            help="overwrite existing values (default: fill empty ones)",
        )
        parser.add_argument("--enrol-in-journeys", action="store_true")

    def handle(self, *args, **options):
        path = Path(options["file"])
        try:
            mapping = parse_mapping(options["mapping"])
            info, plan = import_job_plan(
                path=path,
                mapping=mapping,
                email_consent=options["email_consent"],
                sms_consent=options["sms_consent"],
                source_name=options["source"],
            )
        except (ImportRefused, MappingError) as exc:
            raise CommandError(f"{path}: {exc}") from exc
        self.stdout.write(f"{path.name}: {plan.format} format, ~{info.rows_estimate:,} rows")
        job = self._job(path, mapping, options)
        job = import_job_run(job_id=job.pk)
        self._report(job)

    def _job(self, path: Path, mapping: dict, options) -> ImportJob:
        job = ImportJob(
            original_name=path.name,
            mapping=mapping,
            source_name=options["source"],
            email_consent=options["email_consent"],
            sms_consent=options["sms_consent"],
            overwrite=options["overwrite"],
            enrol_in_journeys=options["enrol_in_journeys"],
            dry_run=options["dry_run"],
        )
        with open(path, "rb") as handle:
            job.file.save(path.name, File(handle), save=False)
        job.save()
        return job

    def _report(self, job: ImportJob) -> None:
        if job.status == ImportStatus.FAILED:
            raise CommandError(f"import {job.pk} failed: {job.error_message}")
        verb = "would be " if job.dry_run else ""
        self.stdout.write(
            f"import {job.pk}: {verb}created {job.created:,}, {verb}updated {job.updated:,}, "
            f"unchanged {job.unchanged:,}, failed {job.failed:,}; consent applied "
            f"{job.consent_applied:,}, refused {job.consent_refused:,}"
        )
        self.stdout.write(f"error file: {job.error_file.path}")
