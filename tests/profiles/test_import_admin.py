"""The admin: preview and confirm small files, background jobs with progress, export."""

import pytest
from django.contrib.auth.models import Group
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from compliance.models import ConsentEvent
from profiles.imports.jobs import import_job_run
from profiles.models import ImportJob, ImportStatus, Profile
from tests.factories import ProfileFactory, UserFactory
from tests.profiles.test_import_helpers import media  # noqa: F401

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("media")]

SHOPIFY = (
    "Customer ID,Email,Phone,Accepts Email Marketing,Accepts SMS Marketing,Total Spent\n"
    "1,ann@example.com,+14155550161,yes,no,10.00\n"
    "2,not-an-email,,yes,no,0\n"
    "3,ANN@example.com,,no,no,0\n"
    "4,bea@example.com,+14155550162,no,yes,5.00\n"
)


def _upload(content: str, name: str = "customers_export.csv"):
    return SimpleUploadedFile(name, content.encode(), content_type="text/csv")


def test_preview_shows_counts_and_reasons_then_confirm_imports_the_good_rows(admin_client):
    preview = admin_client.post(
        reverse("admin:profiles_profile_import"),
        {"import_file": _upload(SHOPIFY), "format": "0", "resource": "0"},
    )

    page = preview.content.decode()
    assert "<strong>2</strong> to create" in page
    assert "<strong>2</strong> with errors" in page
    assert "invalid email address: &#x27;not-an-email&#x27;" in page
    assert "duplicate of line 2 (same email)" in page
    assert not Profile.objects.exists()  # the preview wrote nothing

    confirm = preview.context["confirm_form"]
    data = {name: confirm[name].value() or "" for name in confirm.fields}
    done = admin_client.post(reverse("admin:profiles_profile_process_import"), data)

    assert done.status_code == 302
    assert set(Profile.objects.values_list("email", flat=True)) == {
        "ann@example.com",
        "bea@example.com",
    }
    job = ImportJob.objects.get()
    assert (job.status, job.created, job.failed, job.consent_applied) == ("done", 2, 2, 2)
    assert {e.evidence["import_job"] for e in ConsentEvent.objects.all()} == {job.pk}


def test_the_admin_preview_refuses_a_declaration_without_a_source(admin_client):
    response = admin_client.post(
        reverse("admin:profiles_profile_import"),
        {"import_file": _upload("email\na@example.com\n"), "format": "0", "resource": "0",
         "email_consent": "on"},
    )  # fmt: skip

    assert "needs a source name" in response.content.decode()
    assert "confirm_form" not in response.context or response.context["confirm_form"] is None


def test_export_escapes_formulas(admin_client):
    ProfileFactory(email="eve@example.com", first_name='=HYPERLINK("http://x")', last_name="-1")
    fields = {f"profileimportresource_{n}": "on" for n in ("email", "first_name", "last_name")}

    response = admin_client.post(
        reverse("admin:profiles_profile_export"), {"format": "0", "resource": "0", **fields}
    )

    body = response.content.decode()
    assert "'=HYPERLINK" in body and ",'-1" in body


def test_a_viewer_cannot_import(client):
    viewer = UserFactory(is_staff=True)
    viewer.groups.add(Group.objects.get(name="Viewer"))
    client.force_login(viewer)

    assert client.get(reverse("admin:profiles_profile_import")).status_code == 403


def test_a_background_job_runs_and_shows_progress_counts_and_error_file(
    admin_client, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False) as queued:
        response = admin_client.post(
            reverse("admin:profiles_importjob_add"),
            {"file": _upload(SHOPIFY), "mapping_text": "", "source_name": ""},
        )
    job = ImportJob.objects.get()
    assert (response.status_code, len(queued), job.status) == (302, 1, ImportStatus.QUEUED)

    import_job_run(job_id=job.pk)  # what the worker does

    progress = admin_client.get(reverse("admin:profiles_importjob_progress", args=[job.pk]))
    keys = ("percent", "rows_processed", "rows_total", "created", "failed", "finished")
    assert {k: progress.json()[k] for k in keys} == {
        "percent": 100, "rows_processed": 4, "rows_total": 4, "created": 2, "failed": 2,
        "finished": True,
    }  # fmt: skip
    page = admin_client.get(reverse("admin:profiles_importjob_change", args=[job.pk]))
    assert 'value="100"' in page.content.decode()
    errors = admin_client.get(reverse("admin:profiles_importjob_errors", args=[job.pk]))
    lines = b"".join(errors.streaming_content).decode("utf-8-sig").splitlines()
    assert lines[1] == "3,invalid email address: 'not-an-email',2,not-an-email,,yes,no,0"


def test_a_file_without_identifier_is_refused_on_the_add_form(admin_client):
    response = admin_client.post(
        reverse("admin:profiles_importjob_add"), {"file": _upload("First Name\nAda\n")}
    )

    assert "no identifier column" in response.content.decode()
    assert not ImportJob.objects.exists()


def test_a_preview_job_is_confirmed_into_a_real_import(admin_client):
    admin_client.post(
        reverse("admin:profiles_importjob_add"), {"file": _upload(SHOPIFY), "dry_run": "on"}
    )
    job = ImportJob.objects.get()
    import_job_run(job_id=job.pk)
    assert (Profile.objects.count(), ImportJob.objects.get().created) == (0, 2)

    admin_client.post(reverse("admin:profiles_importjob_run", args=[job.pk]))
    import_job_run(job_id=job.pk)

    job.refresh_from_db()
    assert (job.dry_run, job.status, job.created, Profile.objects.count()) == (False, "done", 2, 2)


def test_the_preview_names_the_same_lines_as_the_job_after_a_blank_one(admin_client):
    from tests.profiles.test_import_helpers import problems, run_import

    blank_line = "email\n\na@example.com\nb@example.com\nA@example.com\n"  # 5 repeats 3

    assert problems(run_import(blank_line)) == [("5", "duplicate of line 3 (same email)")]

    page = admin_client.post(
        reverse("admin:profiles_profile_import"),
        {"import_file": _upload(blank_line, "list.csv"), "format": "0", "resource": "0"},
    ).content.decode()
    assert "duplicate of line 3 (same email)" in page
