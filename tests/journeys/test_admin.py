"""The journey builder in the admin: typed step fields, diagram with counts, dry run."""

from datetime import UTC, datetime

import pytest
from django.core.management import call_command
from django.urls import reverse
from django_q.models import Schedule

from journeys import engine
from journeys.models import Journey, Step
from journeys.services import enrollment_create
from tests.channels.factories import SmsTemplateFactory
from tests.factories import ProfileFactory, UserFactory
from tests.journeys.conftest import make_journey

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client):
    client.force_login(UserFactory(username="root", is_staff=True, is_superuser=True))
    return client


def inline_data(steps, journey_fields=None):
    data = {"name": "Welcome", "trigger_type": "event", "trigger_event": "Signed Up",
            "trigger_filters": "{}", "trigger_settings": "{}", "reentry": "once",
            "goal_events": "[]", "entry_step": "",
            "steps-TOTAL_FORMS": str(len(steps)), "steps-INITIAL_FORMS": "0",
            "steps-MIN_NUM_FORMS": "0", "steps-MAX_NUM_FORMS": "1000"}  # fmt: skip
    data.update(journey_fields or {})
    for n, step in enumerate(steps):
        for name, value in step.items():
            data[f"steps-{n}-{name}"] = value
    return data


def test_a_marketer_builds_steps_with_typed_fields_not_json(admin_client):
    data = inline_data([
        {"key": "pause", "type": "wait", "position": "0", "next_step": "check",
         "wait__days": "1", "wait__until_time": "09:00"},
        {"key": "check", "type": "branch", "position": "1", "yes_step": "a", "no_step": "b",
         "branch__kind": "trait", "branch__trait": "tier", "branch__op": "eq",
         "branch__value": "gold"},
        {"key": "a", "type": "exit", "position": "2", "exit__reason": "gold"},
        {"key": "b", "type": "update_profile", "position": "3",
         "update_profile__traits": '{"nudged": true}'},
    ])  # fmt: skip
    response = admin_client.post(reverse("admin:journeys_journey_add"), data)
    assert response.status_code == 302, response.context["errors"] if response.context else ""
    steps = {s.key: s.settings for s in Step.objects.all()}
    assert steps == {
        "pause": {"days": 1, "until_time": "09:00:00"},
        "check": {"kind": "trait", "trait": "tier", "op": "eq", "value": "gold"},
        "a": {"reason": "gold"},
        "b": {"traits": {"nudged": True}},
    }


def test_invalid_step_settings_are_refused_with_the_reason(admin_client):
    data = inline_data([{"key": "pause", "type": "wait", "position": "0"}])
    response = admin_client.post(reverse("admin:journeys_journey_add"), data)
    assert response.status_code == 200
    assert "Give a duration" in response.content.decode()
    assert not Journey.objects.exists()


def test_the_change_page_shows_problems_and_the_diagram_with_counts(admin_client, at_start):
    journey = make_journey([
        {"key": "pause", "type": "wait", "settings": {"hours": 2}, "next": "done"},
        {"key": "done", "type": "exit"},
    ])  # fmt: skip
    for _ in range(3):
        enrollment_create(journey=journey, profile=ProfileFactory())
    engine.tick()
    page = admin_client.get(reverse("admin:journeys_journey_change", args=[journey.pk]))
    html = page.content.decode()
    assert "<svg" in html and 'data-step="pause"' in html
    assert "entered 3" in html and "waiting now 3" in html
    assert "None: ready to publish." in html


def test_dry_run_walks_the_draft_for_a_person(admin_client):
    journey = make_journey([
        {"key": "check", "type": "branch", "yes": "a", "no": "b",
         "settings": {"kind": "trait", "trait": "tier", "op": "eq", "value": "gold"}},
        {"key": "a", "type": "update_profile", "settings": {"traits": {"x": 1}}},
        {"key": "b", "type": "exit"},
    ])  # fmt: skip
    profile = ProfileFactory(traits={"tier": "gold"})
    url = reverse("admin:journeys_journey_dry_run", args=[journey.pk])
    html = admin_client.get(url, {"profile": profile.pk}).content.decode()
    assert "trait tier eq gold: yes" in html
    profile.refresh_from_db()
    assert "x" not in profile.traits  # nothing was changed


@pytest.mark.parametrize(("expiry_hours", "outcome"), [(24, "deferred"), (2, "skipped")])
def test_dry_run_of_a_send_held_by_quiet_hours_says_deferred_or_skipped(
    admin_client, person, time_machine, expiry_hours, outcome
):
    time_machine.move_to(datetime(2025, 6, 10, 6, 0, tzinfo=UTC), tick=False)  # 02:00 NY
    SmsTemplateFactory(key="nudge")
    settings = {"template": "nudge", "expiry_hours": expiry_hours}
    journey = make_journey([{"key": "sms", "type": "send_sms", "settings": settings}])
    url = reverse("admin:journeys_journey_dry_run", args=[journey.pk])
    walked = admin_client.get(url, {"profile": person.pk}).context["walked"]
    assert [(step.outcome, "defer (quiet_hours_federal) until 2025-06-10 12:" in step.reason)
            for step in walked] == [(outcome, True)]  # fmt: skip


def test_dry_run_takes_a_phone_number_and_names_an_unknown_profile(admin_client, person):
    journey = make_journey([{"key": "out", "type": "exit"}])
    url = reverse("admin:journeys_journey_dry_run", args=[journey.pk])

    found = admin_client.get(url, {"profile": str(person.phone)})
    unknown = admin_client.get(url, {"profile": "nobody@example.com"})

    assert [step.key for step in found.context["walked"]] == ["out"]
    assert unknown.context["walked"] is None
    assert "No profile has this email, phone number, external id or id." in unknown.content.decode()


def test_activate_action_publishes_and_refuses_a_broken_draft(admin_client):
    good = make_journey([{"key": "out", "type": "exit"}], activate=False, name="Good")
    bad = make_journey([{"key": "w", "type": "wait", "settings": {"hours": 1}, "next": "gone"}],
                       activate=False, name="Bad")  # fmt: skip
    admin_client.post(reverse("admin:journeys_journey_changelist"),
                      {"action": "activate", "_selected_action": [good.pk, bad.pk]})  # fmt: skip
    good.refresh_from_db()
    bad.refresh_from_db()
    assert (good.status, good.live_version.number) == ("active", 1)
    assert (bad.status, bad.live_version) == ("draft", None)


def test_journeys_tick_command_and_setup_schedules_are_idempotent(capsys, at_start):
    journey = make_journey([{"key": "out", "type": "exit"}])
    enrollment_create(journey=journey, profile=ProfileFactory())
    call_command("journeys_tick")
    assert "1 enrollments, 1 steps" in capsys.readouterr().out
    call_command("setup_schedules")
    call_command("setup_schedules")
    assert sorted(Schedule.objects.values_list("name", "func")) == [
        ("channels.sweep", "channels.tasks.sweep"),
        ("channels.webhooks-drain", "channels.webhooks.inbox.drain"),
        ("imports-resume", "profiles.imports.jobs.import_jobs_resume_stale"),
        ("journeys-tick", "journeys.tasks.tick"),
    ]


def test_enrol_selected_profiles_from_the_profile_list(admin_client):
    journey = make_journey([{"key": "w", "type": "wait", "settings": {"days": 1}}])
    people = [ProfileFactory(), ProfileFactory()]
    url = reverse("admin:profiles_profile_changelist")
    ids = [p.pk for p in people]
    page = admin_client.post(url, {"action": "enrol_in_journey", "_selected_action": ids})
    assert "Enrol 2 selected profiles" in page.content.decode()
    admin_client.post(url, {"action": "enrol_in_journey", "_selected_action": ids,
                            "journey": journey.pk})  # fmt: skip
    assert journey.enrollments.count() == 2
    assert journey.enrollments.first().context["trigger"] == "manual"


def test_a_date_trait_enrols_people_n_days_ahead_once(at_start):
    from journeys.manual import scan_date_traits

    renewal = {"trait": "renewal_date", "days_before": 7}
    journey = make_journey([{"key": "w", "type": "wait", "settings": {"days": 30}}],
                           trigger_type="date_trait", trigger_settings=renewal)  # fmt: skip
    due = ProfileFactory(traits={"renewal_date": "2025-06-17"})
    ProfileFactory(traits={"renewal_date": "2025-06-18"})
    assert scan_date_traits() == 1
    assert scan_date_traits() == 0  # at most hourly
    assert list(journey.enrollments.values_list("profile", flat=True)) == [due.pk]


def test_the_journey_list_shows_version_and_people_in_it(admin_client, at_start):
    journey = make_journey([{"key": "w", "type": "wait", "settings": {"days": 1}}])
    for _ in range(2):
        enrollment_create(journey=journey, profile=ProfileFactory())
    page = admin_client.get(reverse("admin:journeys_journey_changelist"))
    row = next(iter(page.context["cl"].result_list))
    assert (row.latest_version, row.in_it_now) == (1, 2)
