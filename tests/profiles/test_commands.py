"""Management commands of the profiles app."""

from io import StringIO

import pytest
from django.core.management import call_command

from profiles.models import ApiToken, Profile

pytestmark = pytest.mark.django_db


def test_create_api_token_prints_the_token_alone_on_the_last_line(client):
    stdout, stderr = StringIO(), StringIO()

    call_command("create_api_token", "shop backend", stdout=stdout, stderr=stderr)

    raw = stdout.getvalue().splitlines()[-1]
    assert raw.startswith("tdm_")
    assert raw == raw.strip()
    token = ApiToken.objects.get()
    assert token.name == "shop backend"
    assert raw not in stderr.getvalue()
    assert token.token_prefix in stderr.getvalue()
    response = client.post(
        "/api/v1/identify",
        data={"userId": "u-1"},
        content_type="application/json",
        headers={"authorization": f"Bearer {raw}"},
    )
    assert response.status_code == 200
    assert Profile.objects.get().external_id == "u-1"
