"""The batch endpoint and the request limits."""

import json

import pytest

from profiles.models import Event, Profile
from profiles.services import profile_upsert

pytestmark = pytest.mark.django_db


def test_a_batch_applies_good_items_and_reports_bad_ones_one_by_one(post_api):
    response = post_api(
        "batch",
        {
            "batch": [
                {"type": "identify", "userId": "u-1", "traits": {"firstName": "Ada"}},
                {"type": "track", "userId": "u-1"},
                {"type": "track", "userId": "u-1", "event": "Paid", "messageId": "m-1"},
                {"type": "page", "userId": "u-1"},
                "not an object",
                {"type": "identify", "userId": "u-2", "traits": {"timezone": "Mars/Olympus"}},
            ]
        },
    )

    assert response.status_code == 200
    body = response.json()
    assert (body["ok"], body["succeeded"], body["failed"]) == (False, 2, 4)
    results = body["results"]
    assert [r["index"] for r in results] == [0, 1, 2, 3, 4, 5]
    assert [r["ok"] for r in results] == [True, False, True, False, False, False]
    assert results[1]["error"] == "a track call needs an `event` name"
    assert results[3]["error"] == "`type` must be identify or track"
    assert results[4]["error"] == "`type` must be identify or track"
    assert "Mars/Olympus" in results[5]["error"]
    ada = Profile.objects.get()
    assert (ada.external_id, ada.first_name) == ("u-1", "Ada")
    assert results[0]["profileId"] == results[2]["profileId"] == ada.pk
    event = Event.objects.get()
    assert (event.name, event.profile_id, event.pk) == ("Paid", ada.pk, results[2]["eventId"])
    assert not Profile.objects.filter(external_id="u-2").exists()


def test_a_failed_batch_item_rolls_back_only_itself(post_api):
    post_api("identify", {"userId": "u-1", "traits": {"email": "ada@example.com"}})

    response = post_api(
        "batch",
        {
            "batch": [
                {"type": "track", "userId": "u-2", "event": "Paid"},
                # ada@example.com belongs to u-1: a conflict, nothing of this item lands.
                {
                    "type": "identify",
                    "userId": "u-3",
                    "traits": {"email": "ada@example.com"},
                },
                {"type": "track", "userId": "u-4", "event": "Paid"},
            ]
        },
    )

    body = response.json()
    assert [r["ok"] for r in body["results"]] == [True, False, True]
    assert "refusing to merge two people" in body["results"][1]["error"]
    assert sorted(Profile.objects.values_list("external_id", flat=True)) == ["u-1", "u-2", "u-4"]
    assert Event.objects.count() == 2


def test_a_batch_item_too_long_to_store_is_rejected_alone(post_api):
    response = post_api(
        "batch",
        {
            "batch": [
                {"type": "identify", "userId": "u-1", "traits": {"lastName": "L" * 151}},
                {"type": "track", "userId": "u-2", "event": "Paid", "properties": {"total": 1e13}},
            ]
        },
    )

    assert response.status_code == 200
    results = response.json()["results"]
    assert results[0] == {"index": 0, "ok": False, "error": "last_name is over 150 characters"}
    assert results[1]["ok"] is True
    assert list(Profile.objects.values_list("external_id", flat=True)) == ["u-2"]
    assert Event.objects.get().value is None


def test_a_batch_that_repeats_a_message_id_stores_the_event_once(post_api):
    call = {"type": "track", "userId": "u-1", "event": "Paid", "messageId": "m-1"}

    response = post_api("batch", {"batch": [call, call]})

    results = response.json()["results"]
    assert results[0]["eventId"] == results[1]["eventId"]
    assert Event.objects.count() == 1


def test_a_fully_good_batch_is_ok(post_api):
    response = post_api(
        "batch",
        {"batch": [{"type": "identify", "userId": "u-1"}, {"type": "identify", "userId": "u-2"}]},
    )

    assert response.json()["ok"] is True
    assert response.json()["failed"] == 0
    assert Profile.objects.count() == 2


@pytest.mark.parametrize("batch", [None, [], {"type": "identify"}, "u-1"])
def test_a_batch_without_a_list_of_calls_gets_400(post_api, row_counts, batch):
    response = post_api("batch", {"batch": batch})

    assert response.status_code == 400
    assert response.json() == {
        "error": "`batch` must be a non-empty list of identify or track calls"
    }
    assert row_counts() == (0, 0)


def test_a_batch_over_the_item_limit_gets_400_and_applies_nothing(post_api, row_counts, settings):
    settings.API_MAX_BATCH_ITEMS = 2
    items = [{"type": "identify", "userId": f"u-{n}"} for n in range(3)]

    response = post_api("batch", {"batch": items})

    assert response.status_code == 400
    assert response.json() == {"error": "a batch holds at most 2 calls"}
    assert row_counts() == (0, 0)


def test_a_batch_at_the_item_limit_is_accepted(post_api, settings):
    settings.API_MAX_BATCH_ITEMS = 2
    items = [{"type": "identify", "userId": f"u-{n}"} for n in range(2)]

    response = post_api("batch", {"batch": items})

    assert response.status_code == 200
    assert Profile.objects.count() == 2


@pytest.mark.parametrize("endpoint", ["identify", "track", "batch"])
def test_a_body_over_the_size_limit_gets_413_and_creates_nothing(
    post_api, row_counts, settings, endpoint
):
    settings.API_MAX_BODY_BYTES = 100
    body = {"userId": "u-1", "event": "Paid", "traits": {"note": "x" * 100}}
    body["batch"] = [{"type": "identify", "userId": "u-1", "traits": {"note": "x" * 100}}]

    response = post_api(endpoint, body)

    assert response.status_code == 413
    assert response.json() == {"error": "request body over 100 bytes"}
    assert row_counts() == (0, 0)


def test_a_body_at_the_size_limit_is_accepted(post_api, settings):
    body = json.dumps({"userId": "u-1"})
    settings.API_MAX_BODY_BYTES = len(body)

    response = post_api("identify", body)

    assert response.status_code == 200


def test_a_batch_get_is_not_allowed(client, api_token):
    response = client.get("/api/v1/batch", headers={"authorization": f"Bearer {api_token}"})

    assert response.status_code == 405


def test_a_batch_without_a_token_is_refused(post_api, row_counts):
    response = post_api("batch", {"batch": [{"type": "identify", "userId": "u-1"}]}, token=None)

    assert response.status_code == 401
    assert row_counts() == (0, 0)


def test_tracks_before_a_merging_identify_land_on_the_survivor(post_api):
    profile_upsert(email="mo@example.com")
    profile_upsert(phone="+14155550177")
    batch = [
        {"type": "track", "event": "Cart Viewed", "context": {"traits": {"phone": "+14155550177"}}},
        {"type": "identify", "traits": {"email": "mo@example.com", "phone": "+14155550177"}},
        {"type": "track", "event": "Order Completed", "traits": {"email": "mo@example.com"}},
    ]

    response = post_api("batch", {"batch": batch})

    assert response.json()["failed"] == 0
    [survivor] = Profile.objects.all()
    assert sorted(survivor.events.values_list("name", flat=True)) == [
        "Cart Viewed",
        "Order Completed",
    ]


def test_a_batch_stores_its_tracks_in_one_insert(post_api, django_assert_max_num_queries):
    for n in range(50):
        profile_upsert(external_id=f"u{n}")
    batch = [
        {"type": "track", "userId": f"u{n}", "event": "Product Viewed", "messageId": f"m{n}"}
        for n in range(50)
    ]

    # token, usage stamp, 50 profile reads, the key check, one insert (+ transaction).
    with django_assert_max_num_queries(60):
        response = post_api("batch", {"batch": batch})

    assert response.json()["succeeded"] == 50
    assert Event.objects.count() == 50
