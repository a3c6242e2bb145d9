"""import_profiles: the job's code path from the command line, with honest exit codes."""

import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from compliance.models import ConsentEvent
from profiles.models import ImportJob, Profile
from tests.profiles.test_import_helpers import media  # noqa: F401

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("media")]
PROJECT = Path(__file__).resolve().parents[2]


def test_bad_rows_are_reported_and_the_command_succeeds(tmp_path, capsys):
    path = tmp_path / "list.csv"
    path.write_text("E-mail,Mobile\nann@example.com,4155550123\nnope,\n")

    call_command("import_profiles", str(path), "--source", "Fair 2025", "--email-consent")

    out = capsys.readouterr().out
    job = ImportJob.objects.get()
    assert f"import {job.pk}: created 1, updated 0, unchanged 0, failed 1" in out
    assert f"error file: {job.error_file.path}" in out
    assert ConsentEvent.objects.get().evidence["source_name"] == "Fair 2025"


def test_mapping_and_dry_run_on_the_command_line(tmp_path, capsys):
    path = tmp_path / "list.csv"
    path.write_text("Contact,Cell\nann@example.com,4155550123\n")

    call_command("import_profiles", str(path), "--mapping", "Contact=email,Cell=phone", "--dry-run")

    assert "would be created 1" in capsys.readouterr().out
    assert not Profile.objects.exists()


def test_a_file_without_an_identifier_column_is_a_command_error(tmp_path):
    path = tmp_path / "names.csv"
    path.write_text("First Name\nAda\n")

    with pytest.raises(CommandError, match="no identifier column"):
        call_command("import_profiles", str(path))
    assert not ImportJob.objects.exists()


def test_more_trait_columns_than_an_import_takes_is_a_clear_command_error(tmp_path):
    names = [f"m{n}" for n in range(1_001)]
    path = tmp_path / "wide.csv"
    path.write_text("email," + ",".join(names) + "\nann@example.com," + ",".join(names) + "\n")
    mapping = ",".join(f"{name}=traits.{name}" for name in names)

    with pytest.raises(CommandError, match="1001 columns are mapped to traits; at most 1,000"):
        call_command("import_profiles", str(path), "--mapping", mapping)
    assert not ImportJob.objects.exists()

    call_command("import_profiles", str(path), "--mapping", mapping.replace("traits.m1000", "-"))
    assert len(Profile.objects.get().traits) == 1_000


@pytest.mark.parametrize(
    ("content", "message"),
    [(None, "No such file"), (b"\x00\x01binary", "looks binary"), (b"email\n", None)],
    ids=["missing", "binary", "header-only"],
)
def test_exit_status_of_the_real_command(tmp_path, content, message):
    path = tmp_path / "in.csv"
    if content is not None:
        path.write_bytes(content)
    database = f"sqlite:///{tmp_path / 'cli.sqlite3'}"
    env = {"DATABASE_URL": database, "MEDIA_ROOT": str(tmp_path / "media"), "PATH": "/usr/bin"}
    if message is None:
        subprocess.run(
            [sys.executable, "manage.py", "migrate", "-v0"], cwd=PROJECT, env=env, check=True
        )

    done = subprocess.run(
        [sys.executable, "manage.py", "import_profiles", str(path)],
        cwd=PROJECT,
        env=env,
        capture_output=True,
        text=True,
    )

    if message is None:
        assert (done.returncode, "created 0" in done.stdout) == (0, True)
    else:
        assert done.returncode == 1
        assert message in done.stderr
