"""POST /api/v1/journeys/enter puts a person into an API-triggered journey."""

import json

import pytest

from journeys.models import Enrollment
from profiles.models import ApiToken, Profile
from tests.journeys.conftest import make_journey

pytestmark = pytest.mark.django_db


@pytest.fixture
def post(client):
    _, token = ApiToken.generate(name="shop")

    def send(body, *, auth=True):
        headers = {"authorization": f"Bearer {token}"} if auth else {}
        return client.post("/api/v1/journeys/enter", json.dumps(body),
                           content_type="application/json", headers=headers)  # fmt: skip

    return send


@pytest.fixture
def journey():
    return make_journey([{"key": "w", "type": "wait", "settings": {"days": 1}}],
                        trigger_type="api")  # fmt: skip


def test_enter_creates_the_person_and_the_enrollment(post, journey):
    response = post({"journey": journey.pk, "userId": "u-1", "traits": {"email": "u1@example.com"},
                     "properties": {"coupon": "X1"}})  # fmt: skip
    assert response.status_code == 200
    body = response.json()
    assert body["enrolled"] is True
    enrollment = Enrollment.objects.get(pk=body["enrollmentId"])
    assert enrollment.profile == Profile.objects.get(external_id="u-1")
    assert enrollment.context == {"trigger": "api", "properties": {"coupon": "X1"}}
    again = post({"journey": journey.pk, "userId": "u-1"}).json()
    assert again["enrolled"] is False and "re-entry" in again["reason"]


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [({"userId": "u"}, 400, "journey must be"), ({"journey": 999, "userId": "u"}, 404, "no API"),
     ({"journey": "JOURNEY", "userId": "u"}, 400, "integer")],
)  # fmt: skip
def test_bad_calls_get_a_json_error_and_create_nothing(post, journey, body, status, message):
    if body.get("journey") == "JOURNEY":
        body["journey"] = str(journey.pk)
    response = post(body)
    assert response.status_code == status and message in response.json()["error"]
    assert not Profile.objects.exists() and not Enrollment.objects.exists()


def test_a_paused_journey_answers_409_and_no_token_401(post, journey):
    journey.status = "paused"
    journey.save()
    assert post({"journey": journey.pk, "userId": "u"}).status_code == 409
    assert post({"journey": journey.pk, "userId": "u"}, auth=False).status_code == 401
    assert not Profile.objects.exists()
