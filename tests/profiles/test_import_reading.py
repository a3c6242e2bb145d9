"""Files as they come: BOM, CRLF, Latin-1, semicolons and tabs."""

import pytest

from profiles.imports.reading import FileUnreadable, inspect_file, sniff_delimiter
from profiles.models import ImportStatus, Profile
from tests.profiles.test_import_helpers import media, run_import  # noqa: F401

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("media")]


@pytest.mark.parametrize(
    "raw",
    [
        "email,first_name\r\nzoe@example.com,Zoë\r\n".encode(),
        "\ufeffemail,first_name\nzoe@example.com,Zoë\n".encode(),
        "email;first_name\nzoe@example.com;Zoë\n".encode("latin-1"),
        "email\tfirst_name\nzoe@example.com\tZoë\n".encode("cp1252"),
        'email|"first_name"\nzoe@example.com|"Zoë"\n'.encode(),
    ],
    ids=["utf8-crlf", "utf8-bom", "latin1-semicolon", "cp1252-tab", "pipe-quoted"],
)
def test_encodings_and_delimiters_read_the_same_person(raw):
    job = run_import(raw)

    assert (job.status, job.created, job.failed) == (ImportStatus.DONE, 1, 0)
    assert Profile.objects.get().first_name == "Zoë"


def test_a_latin1_byte_deep_in_a_utf8_looking_file_switches_the_whole_file(tmp_path):
    path = tmp_path / "late.csv"
    path.write_bytes(
        b"email,name\n"
        + b"a@example.com,Ann\n" * 50_000
        + "b@example.com,Ren\xe9e\n".encode("latin-1")
    )

    info = inspect_file(path)

    assert (info.encoding, info.rows_estimate) == ("cp1252", 50_001)


def test_a_quoted_header_with_commas_does_not_fool_the_delimiter_guess():
    assert sniff_delimiter('"Name, full";email;phone\n') == ";"


def test_an_empty_or_binary_file_is_refused(tmp_path):
    (tmp_path / "empty.csv").write_bytes(b"")
    (tmp_path / "zip.csv").write_bytes(b"PK\x03\x04\x00\x00binary")

    with pytest.raises(FileUnreadable, match="empty"):
        inspect_file(tmp_path / "empty.csv")
    with pytest.raises(FileUnreadable, match="binary"):
        inspect_file(tmp_path / "zip.csv")


def test_blank_lines_are_skipped_and_line_numbers_stay_those_of_the_file():
    job = run_import("email\n\na@example.com\n\nbad\n")

    assert (job.created, job.failed) == (1, 1)
    with open(job.error_file.path, encoding="utf-8-sig") as handle:
        assert handle.read().splitlines()[1].startswith("5,")
