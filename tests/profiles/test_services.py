"""profiles.services: one profile per person, merges, and the event timeline."""

import logging
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from profiles import hooks
from profiles.identity import IdentityConflict, IdentityError
from profiles.models import Event, EventSource, Profile, ProfileMerge
from profiles.services import (
    event_build,
    event_track,
    event_track_many,
    profile_merge,
    profile_upsert,
)
from tests.factories import EventFactory, ProfileFactory

pytestmark = pytest.mark.django_db


# --- profile_upsert -------------------------------------------------------------------


def test_profile_upsert_takes_keyword_arguments_only():
    with pytest.raises(TypeError):
        profile_upsert("u-1")  # type: ignore[misc]

    assert Profile.objects.count() == 0


def test_profile_upsert_without_an_identifier_creates_nothing():
    with pytest.raises(IdentityError, match="no usable identifier"):
        profile_upsert(email="  ", first_name="Ada")

    assert Profile.objects.count() == 0


def test_profile_upsert_refuses_an_unknown_field():
    with pytest.raises(ValueError, match="unknown profile fields: nickname"):
        profile_upsert(external_id="u-1", nickname="Ada")

    assert Profile.objects.count() == 0


def test_user_id_with_email_then_email_with_phone_is_one_profile():
    first = profile_upsert(external_id="u-1", email="ada@example.com")

    second = profile_upsert(email="ada@example.com", phone="+14155552671")

    assert second.pk == first.pk
    profile = Profile.objects.get()
    assert (profile.external_id, profile.email, str(profile.phone)) == (
        "u-1",
        "ada@example.com",
        "+14155552671",
    )
    assert ProfileMerge.objects.count() == 0


def test_an_email_is_stored_lower_cased_and_found_in_any_case():
    profile = profile_upsert(email="  Ada.Lovelace@Example.COM ")

    again = profile_upsert(email="ADA.LOVELACE@example.com", first_name="Ada")

    assert again.pk == profile.pk
    assert Profile.objects.get().email == "ada.lovelace@example.com"


def test_a_national_phone_number_is_stored_in_e164_for_the_default_region(settings):
    settings.PHONE_DEFAULT_REGION = "GB"

    profile = profile_upsert(phone="07400 123456")

    assert str(Profile.objects.get(pk=profile.pk).phone) == "+447400123456"


def test_the_same_national_number_reads_differently_in_another_region(settings):
    settings.PHONE_DEFAULT_REGION = "US"

    profile = profile_upsert(phone="(415) 555-2671")

    assert str(Profile.objects.get(pk=profile.pk).phone) == "+14155552671"


def test_a_phone_in_any_format_finds_the_same_profile(settings):
    settings.PHONE_DEFAULT_REGION = "GB"
    profile = profile_upsert(phone="+44 7400 123456")

    again = profile_upsert(phone="07400123456", first_name="Ada")

    assert again.pk == profile.pk
    assert Profile.objects.count() == 1


def test_an_invalid_phone_number_is_refused(settings):
    settings.PHONE_DEFAULT_REGION = "GB"

    with pytest.raises(IdentityError, match="invalid phone number"):
        profile_upsert(phone="12345")

    assert Profile.objects.count() == 0


def test_an_update_keeps_fields_that_were_not_sent():
    profile_upsert(external_id="u-1", first_name="Ada", time_zone="Europe/London")

    profile_upsert(external_id="u-1", last_name="Lovelace")

    profile = Profile.objects.get()
    assert (profile.first_name, profile.last_name, profile.time_zone) == (
        "Ada",
        "Lovelace",
        "Europe/London",
    )


def test_an_invalid_time_zone_is_refused_before_anything_is_written():
    with pytest.raises(ValueError, match="Mars/Olympus"):
        profile_upsert(external_id="u-1", time_zone="Mars/Olympus")

    assert Profile.objects.count() == 0


def test_email_of_one_external_id_and_another_external_id_is_a_conflict():
    owner = ProfileFactory(external_id="u-1", email="ada@example.com")

    with pytest.raises(IdentityConflict):
        profile_upsert(external_id="u-2", email="ada@example.com")

    assert list(Profile.objects.values_list("pk", "external_id")) == [(owner.pk, "u-1")]


def test_two_profiles_with_different_external_ids_are_never_merged():
    ProfileFactory(external_id="u-1", email="ada@example.com", phone=None)
    ProfileFactory(external_id="u-2", email=None, phone="+14155552671")

    with pytest.raises(IdentityConflict):
        profile_upsert(email="ada@example.com", phone="+14155552671")

    assert Profile.objects.count() == 2
    assert ProfileMerge.objects.count() == 0


# --- Merging ----------------------------------------------------------------------------


def test_tying_an_email_profile_to_a_phone_profile_merges_them_losing_nothing():
    by_email = ProfileFactory(
        external_id=None,
        email="ada@example.com",
        phone=None,
        first_name="Ada",
        last_name="",
        time_zone="",
        traits={"plan": "pro", "source": "web"},
    )
    by_phone = ProfileFactory(
        external_id=None,
        email=None,
        phone="+14155552671",
        first_name="Augusta",
        last_name="Lovelace",
        time_zone="Europe/London",
        traits={"plan": "free", "sms_keyword": "JOIN"},
    )
    email_events = EventFactory.create_batch(2, profile=by_email, name="Email Opened")
    phone_event = EventFactory(profile=by_phone, name="SMS Clicked")
    absorbed_id = by_phone.pk

    survivor = profile_upsert(email="ada@example.com", phone="(415) 555-2671")

    assert survivor.pk == by_email.pk
    assert not Profile.objects.filter(pk=absorbed_id).exists()
    profile = Profile.objects.get()
    assert profile.email == "ada@example.com"
    assert str(profile.phone) == "+14155552671"
    assert (profile.first_name, profile.last_name, profile.time_zone) == (
        "Ada",
        "Lovelace",
        "Europe/London",
    )
    assert profile.traits == {"plan": "pro", "source": "web", "sms_keyword": "JOIN"}
    assert set(profile.events.values_list("pk", flat=True)) == {
        *(e.pk for e in email_events),
        phone_event.pk,
    }
    merge = ProfileMerge.objects.get()
    assert merge.survivor_id == survivor.pk
    assert merge.merged_profile_id == absorbed_id
    assert merge.moved == {"profiles.Event": 1}
    assert merge.reason == "one call named both: email=ada@example.com, phone=+14155552671"
    snapshot = merge.merged_snapshot
    assert snapshot["id"] == absorbed_id
    assert snapshot["phone"] == "+14155552671"
    assert snapshot["email"] is None
    assert snapshot["first_name"] == "Augusta"
    assert snapshot["traits"] == {"plan": "free", "sms_keyword": "JOIN"}
    assert snapshot["created_at"] == by_phone.created_at.isoformat()


def test_a_merge_moves_the_absorbed_profiles_earlier_merges_too():
    survivor = ProfileFactory(external_id="u-1", email="ada@example.com", phone=None)
    absorbed = ProfileFactory(external_id=None, email=None, phone="+14155552671")
    earlier = ProfileMerge.objects.create(
        survivor=absorbed, merged_profile_id=999, merged_snapshot={}, reason="earlier"
    )

    profile_merge(survivor=survivor, absorbed=absorbed, reason="same person")

    earlier.refresh_from_db()
    assert earlier.survivor_id == survivor.pk
    assert ProfileMerge.objects.filter(survivor=survivor).count() == 2


def test_a_profile_cannot_be_merged_into_itself(profile):
    with pytest.raises(ValueError, match="itself"):
        profile_merge(survivor=profile, absorbed=profile, reason="oops")

    assert Profile.objects.filter(pk=profile.pk).exists()
    assert ProfileMerge.objects.count() == 0


def test_merge_handlers_run_inside_the_merge_with_both_profiles():
    survivor = ProfileFactory(phone=None)
    absorbed = ProfileFactory(external_id=None, email=None)
    absorbed_id = absorbed.pk
    seen = []

    def handler(keep, gone):
        seen.append((keep.pk, gone.pk, Profile.objects.filter(pk=gone.pk).exists()))

    hooks.register_merge_handler(handler)
    try:
        profile_merge(survivor=survivor, absorbed=absorbed, reason="same person")
    finally:
        hooks.merge_handlers.remove(handler)

    assert seen == [(survivor.pk, absorbed_id, True)]


# --- event_track ------------------------------------------------------------------------


def test_event_track_stores_the_event(profile):
    at = datetime(2025, 3, 4, 5, 6, 7, tzinfo=UTC)

    event = event_track(
        profile=profile,
        name="Order Completed",
        properties={"total": "42.5"},
        occurred_at=at,
        source=EventSource.IMPORT,
        channel="email",
    )

    stored = Event.objects.get()
    assert stored.pk == event.pk
    assert (stored.profile_id, stored.name, stored.occurred_at) == (
        profile.pk,
        "Order Completed",
        at,
    )
    assert (stored.source, stored.channel, stored.value) == ("import", "email", Decimal("42.50"))
    assert stored.idempotency_key is None


def test_an_explicit_value_wins_over_properties(profile):
    event = event_track(
        profile=profile,
        name="Paid",
        properties={"revenue": 10},
        source=EventSource.API,
        value=Decimal("7.00"),
    )

    assert Event.objects.get(pk=event.pk).value == Decimal("7.00")


@pytest.mark.parametrize(
    ("properties", "value"),
    [
        ({"revenue": 12, "value": 3}, Decimal("12.00")),
        ({"value": "3.456"}, Decimal("3.46")),
        ({"total": -5}, Decimal("-5.00")),
        ({"revenue": True, "total": 2}, Decimal("2.00")),
        ({"revenue": "lots"}, None),
        ({"revenue": "NaN"}, None),
        ({"revenue": "Infinity"}, None),
        ({"revenue": 10**12}, None),
        ({"revenue": "999999999999.999"}, None),
        ({"revenue": "999999999999.99"}, Decimal("999999999999.99")),
        ({"revenue": "1e400"}, None),
        ({}, None),
    ],
)
def test_the_event_value_comes_from_revenue_value_or_total(profile, properties, value):
    event = event_track(profile=profile, name="Paid", properties=properties, source="api")

    assert Event.objects.get(pk=event.pk).value == value


def test_an_event_needs_a_name(profile):
    with pytest.raises(ValueError, match="needs a name"):
        event_track(profile=profile, name="  ", source=EventSource.API)

    assert Event.objects.count() == 0


def test_event_track_with_an_idempotency_key_returns_the_same_event_twice(profile):
    first = event_track(profile=profile, name="Paid", idempotency_key="k-1", source="api")

    second = event_track(profile=profile, name="Paid", idempotency_key="k-1", source="api")

    assert second.pk == first.pk
    assert Event.objects.count() == 1


def test_listeners_hear_a_new_event_only_after_commit(
    profile, heard_events, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        event = event_track(profile=profile, name="Paid", source=EventSource.API)
        assert heard_events == []

    assert heard_events == [event]


def test_listeners_do_not_hear_a_duplicate(
    profile, heard_events, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        first = event_track(profile=profile, name="Paid", idempotency_key="k-1", source="api")

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        event_track(profile=profile, name="Paid", idempotency_key="k-1", source="api")

    assert callbacks == []
    assert heard_events == [first]


def test_listeners_do_not_hear_an_event_whose_transaction_rolled_back(
    profile, heard_events, django_capture_on_commit_callbacks
):
    from django.db import transaction

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        with pytest.raises(RuntimeError), transaction.atomic():
            event_track(profile=profile, name="Paid", source=EventSource.API)
            raise RuntimeError("the caller failed after tracking")

    assert callbacks == []
    assert heard_events == []
    assert Event.objects.count() == 0


def test_a_failing_listener_does_not_fail_the_committed_call(
    profile, heard_events, django_capture_on_commit_callbacks, caplog
):
    def broken(event):
        raise RuntimeError("journey trigger broke")

    hooks.register_event_listener(broken)
    try:
        with caplog.at_level(logging.ERROR), django_capture_on_commit_callbacks(execute=True):
            event = event_track(profile=profile, name="Paid", source=EventSource.API)
    finally:
        hooks.event_listeners.remove(broken)

    assert Event.objects.filter(pk=event.pk).exists()
    assert "journey trigger broke" in caplog.text


def test_event_track_many_stores_new_events_once_and_announces_only_them(
    profile, django_capture_on_commit_callbacks
):
    heard = []
    hooks.register_event_listener(heard.append)
    try:
        old = event_track(profile=profile, name="Seen", idempotency_key="k1", source="api")
        built = [
            event_build(profile=profile, name="Seen", idempotency_key="k1", source="api"),
            event_build(profile=profile, name="Fresh", idempotency_key="k2", source="api"),
            event_build(profile=profile, name="Fresh", idempotency_key="k2", source="api"),
        ]
        heard.clear()
        with django_capture_on_commit_callbacks(execute=True):
            stored = event_track_many(events=built)
    finally:
        hooks.event_listeners.remove(heard.append)

    assert [e.pk for e in stored] == [old.pk, stored[1].pk, stored[1].pk]
    assert Event.objects.filter(idempotency_key="k2").count() == 1
    assert [e.name for e in heard] == ["Fresh"]
