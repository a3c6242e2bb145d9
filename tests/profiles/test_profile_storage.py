"""How profiles are stored on PostgreSQL: an update that changes no indexed column stays on
its page (a HOT update), even once the table's pages are full."""

import pytest
from django.db import connection

from profiles.models import Profile

pytestmark = pytest.mark.django_db


@pytest.fixture
def postgresql():
    if connection.vendor != "postgresql":
        pytest.skip("fillfactor and HOT updates are PostgreSQL's")


def _hot_updates() -> int:
    with connection.cursor() as cursor:  # this transaction's counts, before any flush
        cursor.execute(
            "SELECT n_tup_hot_upd FROM pg_stat_xact_user_tables WHERE relname = %s",
            [Profile._meta.db_table],
        )
        row = cursor.fetchone()
    return row[0] if row else 0


def test_renaming_a_profile_on_a_full_page_adds_nothing_to_the_indexes(postgresql):
    # Enough profiles to fill the first pages; the first one sits on the first page.
    profiles = Profile.objects.bulk_create(
        Profile(email=f"p{n}@example.com", phone=f"+1415555{n:04d}", first_name="Ada",
                traits={"city": "Denver", "tags": "newsletter"})
        for n in range(400)
    )  # fmt: skip
    before = _hot_updates()

    Profile.objects.filter(pk=profiles[0].pk).update(first_name="Grace", traits={"vip": "1"})

    assert _hot_updates() == before + 1
