"""seed_demo: the data the README's walk-throughs rely on."""

import pytest
from django.core.management import call_command

from compliance.services import consent_status
from profiles.models import Event, Profile

pytestmark = pytest.mark.django_db


def test_seeds_people_with_history_and_the_two_walk_through_stars(capsys):
    call_command("seed_demo", "--profiles", "20")

    assert "Seeded 22 demo profiles." in capsys.readouterr().out
    assert Event.objects.exists()
    dana = Profile.objects.get(external_id="demo-star")
    aroha = Profile.objects.get(external_id="demo-star-nz")
    assert (dana.time_zone, aroha.time_zone) == ("America/New_York", "Pacific/Auckland")
    for star in (dana, aroha):
        for channel in ("email", "sms"):
            assert consent_status(profile=star, channel=channel) == "subscribed"


def test_runs_once_unless_reset(capsys):
    call_command("seed_demo", "--profiles", "5")
    call_command("seed_demo", "--profiles", "5")
    assert "Demo data present (7 profiles)" in capsys.readouterr().out

    call_command("seed_demo", "--profiles", "5", "--reset")
    assert Profile.objects.filter(external_id__startswith="demo-").count() == 7
