"""Traits through an import: each row's non-empty traits on a new profile, merged into an
existing one's (overwrite decides who wins), and a row that changes nothing counted unchanged.

On PostgreSQL the traits are staged one column each and made into JSON by the SQL
(fastsql._traits_sql): the trait names, from the file's mapping, are untrusted SQL text,
and one connection imports files with other traits one after the other (a worker's jobs).
"""

import pytest

from profiles.imports.jobs import import_job_run
from profiles.models import Profile
from tests.factories import ProfileFactory
from tests.postgres import require_postgres
from tests.profiles.test_import_helpers import make_job, media, problems, run_import  # noqa: F401

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("media")]

ODD = 'o\'k "q" {now} \\x %s é'  # a trait name that is no SQL identifier, nor plain text
FILE = (
    "email,City,Zip,Odd,Tags,first_name\n"
    "ada@example.com,Paris,75001,,vip,\n"  # 2: existing, with traits of her own
    "bob@example.com,,,,,\n"  # 3: existing, no trait in the row: unchanged
    'new1@example.com,Lyon,  ,"it\'s ""x"" {now}",,One\n'  # 4: a blank zip is no trait
    "new2@example.com,,,,,Two\n"  # 5: new, no traits
    "broken,Nice,,,,\n"  # 6: fails
    "new1@EXAMPLE.com,Nantes,,,,\n"  # 7: duplicate of line 4
)
MAPPING = {"City": "traits.city", "Zip": "traits.zip", "Odd": f"traits.{ODD}"}
PLACES = {"City": "traits.city", "Zip": "traits.zip"}


def _traits() -> dict[str, dict]:
    return dict(Profile.objects.values_list("email", "traits"))


@pytest.mark.parametrize("overwrite", [False, True])
def test_traits_land_merge_and_a_second_import_changes_nothing(overwrite):
    ProfileFactory(
        email="ada@example.com", first_name="Ada", traits={"plan": "pro", "city": "Rome"}
    )
    ProfileFactory(email="bob@example.com", first_name="Bob", traits={"tags": "old"})

    job = run_import(FILE, mapping=MAPPING, overwrite=overwrite)

    assert (job.created, job.updated, job.unchanged, job.failed) == (2, 1, 1, 2)
    assert problems(job) == [
        ("6", "invalid email address: 'broken'"),
        ("7", "duplicate of line 4 (same email)"),
    ]
    assert _traits() == {
        "ada@example.com": {
            "plan": "pro", "city": "Paris" if overwrite else "Rome", "zip": "75001", "tags": "vip",
        },
        "bob@example.com": {"tags": "old"},
        "new1@example.com": {"city": "Lyon", ODD: 'it\'s "x" {now}'},
        "new2@example.com": {},
    }  # fmt: skip

    again = run_import(FILE, mapping=MAPPING, overwrite=overwrite)

    assert (again.created, again.updated, again.unchanged, again.failed) == (0, 0, 4, 2)


def test_a_row_adding_one_trait_updates_and_keeps_the_others():
    ProfileFactory(email="ada@example.com", traits={"zip": "75001", "city": "Paris"})

    job = run_import("email,City,Zip\nada@example.com,Paris,\n", mapping=PLACES)
    assert (job.updated, job.unchanged) == (0, 1)  # the same city, in another key order

    job = run_import("email,Zip,tags\nada@example.com,75001,vip\n", mapping={"Zip": "traits.zip"})
    assert (job.updated, job.unchanged) == (1, 0)
    assert _traits()["ada@example.com"] == {"zip": "75001", "city": "Paris", "tags": "vip"}


def test_a_row_without_traits_leaves_the_profiles_traits_alone_whatever_they_are():
    ProfileFactory(email="ada@example.com", first_name="Ada", traits=["not", "an", "object"])

    job = run_import("email,City,Zip\nada@example.com,,\n", mapping=PLACES)

    assert (job.status, job.updated, job.unchanged) == ("done", 0, 1)
    assert _traits()["ada@example.com"] == ["not", "an", "object"]


def test_files_with_other_traits_one_after_the_other():
    """One connection, three layouts in turn: two traits, 60 (more than one
    jsonb_build_object would take), none; then two again."""
    run_import("email,City,Zip\na@example.com,Paris,75001\n", mapping=PLACES)

    names = [f"t{n}" for n in range(60)]
    wide = "email," + ",".join(names) + "\n" + "b@example.com," + ",".join(names) + "\n"
    wide += "c@example.com," + "," * 59 + "last\n"
    job = run_import(wide, mapping={name: f"traits.{name}" for name in names})
    assert (job.created, job.failed) == (2, 0)

    job = run_import("email,first_name\nd@example.com,Dee\na@example.com,Ann\n")
    assert (job.created, job.updated) == (1, 1)

    job = run_import("email,Zip,City\ne@example.com,69001,Lyon\n", mapping=PLACES)
    assert job.created == 1

    assert _traits() == {
        "a@example.com": {"city": "Paris", "zip": "75001"},
        "b@example.com": {name: name for name in names},
        "c@example.com": {"t59": "last"},
        "d@example.com": {},
        "e@example.com": {"city": "Lyon", "zip": "69001"},
    }


def test_a_dry_run_with_traits_writes_nothing_and_the_next_import_does():
    ProfileFactory(email="ada@example.com", traits={"city": "Rome"})

    dry = run_import(FILE, mapping=MAPPING, dry_run=True, overwrite=True)
    assert (dry.created, dry.updated, dry.unchanged) == (3, 1, 0)
    assert _traits() == {"ada@example.com": {"city": "Rome"}}

    job = run_import(FILE, mapping=MAPPING, overwrite=True)
    assert (job.created, job.updated, job.unchanged) == (3, 1, 0)
    assert _traits()["ada@example.com"] == {"city": "Paris", "zip": "75001", "tags": "vip"}


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_writers_write_the_traits_of_files_with_other_traits(settings):
    """The writers' connections and this thread's (a batch done again lands here) across
    files whose stages differ."""
    require_postgres()
    settings.IMPORT_WRITERS, settings.IMPORT_BATCH_SIZE = 2, 2
    ProfileFactory(email="ada@example.com", traits={"plan": "pro"})
    ProfileFactory(email="bob@example.com", traits={"tags": "old"})
    wide = "email,a,b,c,d,e\nada@example.com,1,,3,,5\nnew9@example.com,,2,,,\n"

    for first in (True, False):
        job = make_job(FILE, mapping=MAPPING)
        import_job_run(job_id=job.pk)
        job.refresh_from_db()
        counts = (2, 1, 1, 2) if first else (0, 0, 4, 2)
        assert (job.status, job.created, job.updated, job.unchanged, job.failed) == (
            "done",
            *counts,
        )
        job = make_job(wide, mapping={c: f"traits.{c}" for c in "abcde"}, overwrite=True)
        import_job_run(job_id=job.pk)
        job.refresh_from_db()
        counts = (1, 1, 0) if first else (0, 0, 2)
        assert (job.status, job.created, job.updated, job.unchanged) == ("done", *counts)

    assert _traits() == {
        "ada@example.com": {
            "plan": "pro", "city": "Paris", "zip": "75001", "tags": "vip", "a": "1", "c": "3",
            "e": "5",
        },
        "bob@example.com": {"tags": "old"},
        "new1@example.com": {"city": "Lyon", ODD: 'it\'s "x" {now}'},
        "new2@example.com": {},
        "new9@example.com": {"b": "2"},
    }  # fmt: skip
