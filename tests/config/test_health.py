"""/healthz: what a load balancer or uptime monitor asks."""

import pytest

pytestmark = pytest.mark.django_db


def test_healthz_answers_200_when_database_and_queue_answer(client):
    response = client.get("/healthz")

    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok", "queue": "ok"}


def test_healthz_is_never_cached(client):
    response = client.get("/healthz")

    assert "no-cache" in response["Cache-Control"]
    assert "max-age=0" in response["Cache-Control"]


def test_healthz_refuses_a_post(client):
    response = client.post("/healthz")

    assert response.status_code == 405
