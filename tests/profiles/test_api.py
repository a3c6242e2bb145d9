"""The Segment-shaped API: identify and track, one call at a time."""

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.utils import timezone

from profiles.models import ApiToken, Event, EventSource, Profile
from tests.factories import EventFactory, ProfileFactory

pytestmark = pytest.mark.django_db


# --- Authentication -------------------------------------------------------------------


def test_identify_with_a_valid_token_creates_the_profile(post_api):
    response = post_api("identify", {"userId": "u-1", "traits": {"email": "ada@example.com"}})

    assert response.status_code == 200
    profile = Profile.objects.get()
    assert response.json() == {"ok": True, "profileId": profile.pk}
    assert profile.external_id == "u-1"
    assert profile.email == "ada@example.com"


def test_a_call_without_a_token_is_refused_and_creates_nothing(post_api, row_counts):
    response = post_api("identify", {"userId": "u-1"}, token=None)

    assert response.status_code == 401
    assert response["WWW-Authenticate"] == 'Bearer realm="tandem"'
    assert response.json() == {"error": "missing or invalid API token"}
    assert row_counts() == (0, 0)


def test_a_wrong_token_is_refused_and_creates_nothing(post_api, row_counts):
    response = post_api("track", {"userId": "u-1", "event": "Signed Up"}, token="tdm_wrong")

    assert response.status_code == 401
    assert row_counts() == (0, 0)


def test_a_token_sent_with_another_scheme_is_refused(client, api_token, row_counts):
    response = client.post(
        "/api/v1/identify",
        data={"userId": "u-1"},
        content_type="application/json",
        headers={"authorization": f"Token {api_token}"},
    )

    assert response.status_code == 401
    assert row_counts() == (0, 0)


def test_a_revoked_token_is_refused_and_creates_nothing(post_api, row_counts):
    token, raw = ApiToken.generate(name="old shop")
    token.revoked_at = timezone.now()
    token.save()

    response = post_api("identify", {"userId": "u-1"}, token=raw)

    assert response.status_code == 401
    assert row_counts() == (0, 0)


def test_a_used_token_records_when_it_was_last_used(post_api, api_token):
    post_api("identify", {"userId": "u-1"})

    token = ApiToken.objects.get()
    assert token.last_used_at is not None


def test_a_get_is_not_allowed(client, api_token):
    response = client.get("/api/v1/identify", headers={"authorization": f"Bearer {api_token}"})

    assert response.status_code == 405


# --- Rejected bodies create nothing -------------------------------------------------------


@pytest.mark.parametrize(
    ("endpoint", "body", "error"),
    [
        ("identify", "{not json", "malformed JSON body"),
        ("identify", "", "malformed JSON body"),
        ("identify", b"\xff\xfe", "malformed JSON body"),
        ("identify", "[1, 2]", "the body must be a JSON object"),
        ("identify", '"ada@example.com"', "the body must be a JSON object"),
        ("track", {"userId": "u-1"}, "a track call needs an `event` name"),
        ("track", {"userId": "u-1", "event": "   "}, "a track call needs an `event` name"),
        (
            "identify",
            {"traits": {"firstName": "Ada"}},
            "no usable identifier: send userId or traits.email / traits.phone",
        ),
        ("identify", {"userId": ""}, "no usable identifier"),
        ("identify", {"userId": "   "}, "no usable identifier"),
        ("identify", {"userId": {"id": 1}}, "`userId` must be a string"),
        ("identify", {"userId": True}, "`userId` must be a string"),
        ("identify", {"traits": {"email": "not-an-email"}}, "invalid email address"),
        ("identify", {"traits": {"phone": "12"}}, "invalid phone number"),
        ("identify", {"userId": "u-1", "traits": "Ada"}, "`traits` must be an object"),
        ("track", {"userId": "u-1", "event": "Paid", "properties": [1]}, "`properties`"),
        (
            "track",
            {"userId": "u-1", "event": "Paid", "timestamp": "yesterday"},
            "`timestamp` must be an ISO 8601 date-time",
        ),
        (
            "track",
            {"userId": "u-1", "event": "Paid", "timestamp": "2025-13-45T10:00:00Z"},
            "`timestamp` must be an ISO 8601 date-time",
        ),
        (
            "track",
            {"userId": "u-1", "event": "Paid", "timestamp": 1735725600},
            "`timestamp` must be an ISO 8601 date-time",
        ),
        ("track", {"userId": "u-1", "event": "Paid", "messageId": {"a": 1}}, "`messageId`"),
    ],
)
def test_a_malformed_call_gets_400_and_creates_nothing(post_api, row_counts, endpoint, body, error):
    response = post_api(endpoint, body)

    assert response.status_code == 400
    payload = response.json()
    assert list(payload) == ["error"]
    if error:
        assert error in payload["error"]
    assert row_counts() == (0, 0)


def test_an_invalid_email_with_a_user_id_is_ignored_with_a_warning(post_api):
    response = post_api("identify", {"userId": "u-1", "traits": {"email": "ada@@example"}})

    assert response.status_code == 200
    profile = Profile.objects.get()
    assert response.json() == {
        "ok": True,
        "profileId": profile.pk,
        "warnings": ["invalid email address: 'ada@@example'; ignored"],
    }
    assert profile.external_id == "u-1"
    assert profile.email is None


def test_an_invalid_email_next_to_a_valid_phone_still_identifies_by_phone(post_api):
    response = post_api("identify", {"traits": {"email": "nope", "phone": "+1 (415) 555-2671"}})

    assert response.status_code == 200
    assert len(response.json()["warnings"]) == 1
    profile = Profile.objects.get()
    assert str(profile.phone) == "+14155552671"
    assert profile.email is None


def test_a_numeric_user_id_is_stored_as_text(post_api):
    response = post_api("identify", {"userId": 1042})

    assert response.status_code == 200
    assert Profile.objects.get().external_id == "1042"


def test_an_overlong_user_id_gets_400_and_creates_nothing(post_api, row_counts):
    response = post_api("identify", {"userId": "u" * 256})

    assert response.status_code == 400
    assert row_counts() == (0, 0)


def test_an_overlong_email_gets_400_and_creates_nothing(post_api, row_counts):
    email = "a" * 64 + "@" + ".".join(["b" * 60] * 4) + ".com"  # 313 characters, valid shape

    response = post_api("identify", {"traits": {"email": email}})

    assert response.status_code == 400
    assert row_counts() == (0, 0)


def test_an_overlong_first_name_gets_400_and_creates_nothing(post_api, row_counts):
    response = post_api("identify", {"userId": "u-1", "traits": {"firstName": "A" * 151}})

    assert response.status_code == 400
    assert "first_name" in response.json()["error"]
    assert row_counts() == (0, 0)


# --- identify -------------------------------------------------------------------------


def test_identify_maps_segment_traits_onto_profile_fields_and_keeps_the_rest(post_api):
    response = post_api(
        "identify",
        {
            "userId": "u-1",
            "traits": {
                "email": "Ada@Example.com",
                "phone": "(415) 555-2671",
                "firstName": "Ada",
                "lastName": "Lovelace",
                "timezone": "Europe/London",
                "locale": "en-GB",
                "country": "gb",
                "plan": "pro",
                "seats": 3,
            },
        },
    )

    assert response.status_code == 200
    profile = Profile.objects.get()
    assert profile.external_id == "u-1"
    assert profile.email == "ada@example.com"
    assert str(profile.phone) == "+14155552671"
    assert profile.first_name == "Ada"
    assert profile.last_name == "Lovelace"
    assert profile.time_zone == "Europe/London"
    assert profile.locale == "en-GB"
    assert profile.country == "GB"
    assert profile.traits == {"plan": "pro", "seats": 3}


def test_identify_merges_new_traits_into_the_old_ones(post_api):
    post_api("identify", {"userId": "u-1", "traits": {"plan": "free", "source": "ads"}})

    post_api("identify", {"userId": "u-1", "traits": {"plan": "pro"}})

    assert Profile.objects.get().traits == {"plan": "pro", "source": "ads"}


def test_identify_with_an_invalid_time_zone_gets_400_and_creates_nothing(post_api, row_counts):
    response = post_api("identify", {"userId": "u-1", "traits": {"timezone": "Mars/Olympus"}})

    assert response.status_code == 400
    assert "Mars/Olympus" in response.json()["error"]
    assert row_counts() == (0, 0)


def test_identify_with_an_invalid_time_zone_leaves_an_existing_profile_unchanged(post_api):
    profile = ProfileFactory(external_id="u-1", first_name="Ada", time_zone="Europe/London")

    response = post_api(
        "identify", {"userId": "u-1", "traits": {"firstName": "Bob", "timezone": "Nowhere"}}
    )

    assert response.status_code == 400
    profile.refresh_from_db()
    assert (profile.first_name, profile.time_zone) == ("Ada", "Europe/London")


def test_identify_reads_the_email_from_context_traits(post_api):
    response = post_api(
        "identify", {"userId": "u-1", "context": {"traits": {"email": "ada@example.com"}}}
    )

    assert response.status_code == 200
    assert Profile.objects.get().email == "ada@example.com"


def test_an_email_owned_by_another_user_id_gets_409_and_changes_nothing(post_api, row_counts):
    owner = ProfileFactory(external_id="u-1", email="ada@example.com", first_name="Ada")
    before = row_counts()

    response = post_api(
        "identify",
        {"userId": "u-2", "traits": {"email": "ada@example.com", "firstName": "Eve"}},
    )

    assert response.status_code == 409
    assert "refusing to merge two people" in response.json()["error"]
    assert row_counts() == before
    owner.refresh_from_db()
    assert (owner.external_id, owner.first_name) == ("u-1", "Ada")
    assert not Profile.objects.filter(external_id="u-2").exists()


def test_a_track_for_an_email_owned_by_another_user_id_gets_409(post_api, row_counts):
    ProfileFactory(external_id="u-1", email="ada@example.com")
    before = row_counts()

    response = post_api(
        "track",
        {"userId": "u-2", "event": "Paid", "context": {"traits": {"email": "ada@example.com"}}},
    )

    assert response.status_code == 409
    assert row_counts() == before


# --- track ----------------------------------------------------------------------------


def test_track_stores_the_event_on_the_profile(post_api):
    response = post_api(
        "track",
        {"userId": "u-1", "event": " Order Completed ", "properties": {"order_id": "A-17"}},
    )

    assert response.status_code == 200
    event = Event.objects.get()
    assert response.json() == {"ok": True, "profileId": event.profile_id, "eventId": event.pk}
    assert event.profile.external_id == "u-1"
    assert event.name == "Order Completed"
    assert event.properties == {"order_id": "A-17"}
    assert event.source == EventSource.API
    assert event.value is None


def test_track_with_a_timestamp_stores_when_it_happened(post_api):
    post_api("track", {"userId": "u-1", "event": "Paid", "timestamp": "2025-01-02T03:04:05+02:00"})

    assert Event.objects.get().occurred_at == datetime(2025, 1, 2, 1, 4, 5, tzinfo=UTC)


def test_track_reads_a_naive_timestamp_as_utc(post_api):
    post_api("track", {"userId": "u-1", "event": "Paid", "timestamp": "2025-01-02T03:04:05"})

    assert Event.objects.get().occurred_at == datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)


def test_track_without_a_timestamp_stores_the_time_received(post_api):
    before = timezone.now()

    post_api("track", {"userId": "u-1", "event": "Paid"})

    event = Event.objects.get()
    assert before <= event.occurred_at <= timezone.now()


def test_track_revenue_sets_the_event_value(post_api):
    post_api("track", {"userId": "u-1", "event": "Paid", "properties": {"revenue": 19.999}})

    assert Event.objects.get().value == Decimal("20.00")


def test_track_a_value_too_large_to_store_keeps_it_only_in_properties(post_api):
    response = post_api(
        "track", {"userId": "u-1", "event": "Paid", "properties": {"revenue": 1e15}}
    )

    assert response.status_code == 200
    event = Event.objects.get()
    assert event.value is None
    assert event.properties == {"revenue": 1e15}


def test_a_retried_message_id_is_stored_once(post_api):
    call = {"userId": "u-1", "event": "Paid", "messageId": "msg-1"}

    first = post_api("track", call)
    second = post_api("track", call)

    assert first.status_code == second.status_code == 200
    assert second.json()["eventId"] == first.json()["eventId"]
    assert Event.objects.count() == 1
    assert Event.objects.get().idempotency_key == "msg-1"


def test_track_for_a_known_email_adds_to_that_profile(post_api):
    profile = ProfileFactory(external_id=None, email="ada@example.com")
    EventFactory(profile=profile, name="Signed Up")

    post_api("track", {"event": "Paid", "context": {"traits": {"email": "ADA@example.com"}}})

    assert Profile.objects.count() == 1
    assert sorted(profile.events.values_list("name", flat=True)) == ["Paid", "Signed Up"]
