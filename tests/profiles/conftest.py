import json

import pytest

from profiles import hooks
from profiles.models import ApiToken, Event, Profile


@pytest.fixture
def api_token(db) -> str:
    _, raw = ApiToken.generate(name="shop backend")
    return raw


@pytest.fixture
def post_api(client, api_token):
    """POST a JSON body (or raw text) to /api/v1/<endpoint> with a Bearer token."""

    def post(endpoint: str, body, *, token: str | None = api_token, **extra):
        data = body if isinstance(body, (str, bytes)) else json.dumps(body)
        headers = {"authorization": f"Bearer {token}"} if token else {}
        return client.post(
            f"/api/v1/{endpoint}",
            data=data,
            content_type="application/json",
            headers=headers,
            **extra,
        )

    return post


@pytest.fixture
def row_counts(db):
    """(profiles, events) now; call again after the request to compare."""

    def counts() -> tuple[int, int]:
        return Profile.objects.count(), Event.objects.count()

    return counts


@pytest.fixture
def heard_events():
    """Events announced to profiles.hooks listeners, in order."""
    heard: list[Event] = []
    listener = hooks.register_event_listener(heard.append)
    yield heard
    hooks.event_listeners.remove(listener)
