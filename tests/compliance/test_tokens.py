"""Signed links are Django's signing.dumps tokens, made faster but not different."""

import pytest
import time_machine
from django.core import signing

from compliance.tokens import CONFIRM, PREFERENCES, UNSUBSCRIBE, make_token, read_token
from tests.factories import ProfileFactory

pytestmark = pytest.mark.django_db

EXTRAS = [
    {},
    {"c": "email", "t": "offers"},
    {"c": "sms", "t": ""},
    {"c": "email", "a": "ada@example.com"},
    # Long and repetitive: compresses, so the token takes the "." form.
    {"c": "email", "a": "a" * 120 + "@example.com"},
    {"c": "email", "a": "zoë+ünïcode@example.com"},
]


@pytest.mark.parametrize("extra", EXTRAS)
@pytest.mark.parametrize("purpose", [PREFERENCES, UNSUBSCRIBE, CONFIRM])
def test_a_token_is_exactly_what_django_signing_makes(purpose, extra, settings):
    profile = ProfileFactory()
    payload = {"p": profile.pk, "v": 1, **{k: v for k, v in extra.items() if v}}
    with time_machine.travel("2026-03-10T17:00:00Z", tick=False):
        assert make_token(purpose, profile, **extra) == signing.dumps(
            payload, salt=purpose, compress=True
        )
        settings.SECRET_KEY = "another-secret-key-for-this-test-only-0123456789"
        assert make_token(purpose, profile, **extra) == signing.dumps(
            payload, salt=purpose, compress=True
        )


def test_a_long_address_token_is_compressed_and_reads_back():
    profile = ProfileFactory()
    token = make_token(CONFIRM, profile, c="email", a="b" * 200 + "@example.com")

    assert token.startswith(".")
    assert read_token(CONFIRM, token).address == "b" * 200 + "@example.com"


@pytest.mark.parametrize("extra", [{"c": "email", "t": "offers"}, {"c": "sms", "t": ""}])
def test_a_batch_s_links_are_the_single_links(extra):
    from compliance.tokens import HostedLinks, preferences_url, unsubscribe_url

    profile = ProfileFactory()
    with time_machine.travel("2026-03-10T17:00:00Z", tick=False):
        links = HostedLinks()
        assert links.preferences_url(profile) == preferences_url(profile)
        assert links.unsubscribe_url(
            profile, channel=extra["c"], topic=extra["t"]
        ) == unsubscribe_url(profile, channel=extra["c"], topic=extra["t"])


@pytest.mark.parametrize(
    "payload",
    [{"p": 1, "v": 2}, {"p": 1, "v": 1, "a": 'zoë "q" \\ \u2028'}, {"p": True, "v": 1}, {"ü": 1}],
)
def test_the_payload_json_is_json_dumps(payload):
    import json

    from compliance.tokens import _json

    assert _json(payload) == json.dumps(payload, separators=(",", ":"))
