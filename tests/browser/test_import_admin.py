"""An ops person imports a list through the admin and watches its progress bar move."""

import pytest

from compliance.models import ConsentEvent
from profiles.imports.demo import write_demo_file
from profiles.imports.jobs import import_job_run
from profiles.models import ImportJob, Profile

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def import_settings(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path / "media")
    settings.IMPORT_BATCH_SIZE = 100
    settings.IMPORT_JOB_STALE_SECONDS = 0  # the test plays the worker, batch by batch


def test_background_import_progress_bar_moves_and_the_error_file_downloads(
    admin_login, live_server, import_settings, tmp_path
):
    path = tmp_path / "customers_export.csv"
    write_demo_file(path, rows=1000)
    page = admin_login()

    page.goto(f"{live_server.url}/admin/profiles/profile/")
    page.click("text=Import a large file")
    page.set_input_files("#id_file", str(path))
    page.click("input[name=_save]")
    page.wait_for_selector("#import-progress")
    job = ImportJob.objects.get()
    assert page.inner_text("#import-status") == "Queued"

    import_job_run(job_id=job.pk, max_batches=2)  # the worker commits two batches
    page.wait_for_function("document.getElementById('import-bar').value >= 20")
    first = page.eval_on_selector("#import-bar", "bar => bar.value")
    import_job_run(job_id=job.pk, max_batches=5)
    page.wait_for_function(f"document.getElementById('import-bar').value > {first}")
    assert page.inner_text("#import-status") == "Running"

    import_job_run(job_id=job.pk)  # the rest; the page reloads itself when done
    page.wait_for_selector("#import-errors")
    assert page.eval_on_selector("#import-bar", "bar => bar.value") == 100
    assert page.inner_text("#import-status") == "Done"
    with page.expect_download() as download:
        page.click("#import-errors")
    lines = open(download.value.path(), encoding="utf-8-sig").read().splitlines()
    job.refresh_from_db()
    assert lines[0].startswith("line,reason,Customer ID,First Name")
    assert len(lines) - 1 == job.failed > 0
    assert Profile.objects.count() == job.created > 900
    assert ConsentEvent.objects.filter(evidence__import_job=job.pk).count() == job.consent_applied


def test_small_file_preview_then_confirm(admin_login, live_server, import_settings, tmp_path):
    path = tmp_path / "list.csv"
    path.write_text("E-mail,Mobile,First name\nada@example.com,4155550123,Ada\nnope,,Bob\n")
    page = admin_login()

    page.goto(f"{live_server.url}/admin/profiles/profile/import/")
    page.set_input_files("#id_import_file", str(path))
    page.click("input[type=submit]")

    summary = page.inner_text("#import-summary")
    assert "1 to create" in summary and "1 with errors" in summary
    assert "invalid email address: 'nope'" in page.content()
    page.click("input[type=submit][value='Confirm import']")
    page.wait_for_selector(".messagelist")
    assert list(Profile.objects.values_list("email", flat=True)) == ["ada@example.com"]
