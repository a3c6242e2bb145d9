"""The admin shows a person's hosted-page links and can retire them; confirmations go
through the outbox."""

import pytest
from django.urls import reverse

from channels.models import Message
from compliance.tokens import PREFERENCES, InvalidToken, make_token, read_token
from tests.factories import ProfileFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client):
    client.force_login(UserFactory(username="root", is_staff=True, is_superuser=True))
    return client


def test_the_profile_page_links_to_the_preference_centre_that_works(admin_client, client):
    profile = ProfileFactory()
    page = admin_client.get(reverse("admin:profiles_profile_change", args=[profile.pk]))
    html = page.content.decode()
    assert "Customer pages" in html and "https://tandem.example.com/preferences/" in html
    path = html.split("https://tandem.example.com", 1)[1].split('"', 1)[0]
    assert client.get(path).status_code == 200


def test_retiring_links_makes_old_ones_404(admin_client, client):
    profile = ProfileFactory()
    old = make_token(PREFERENCES, profile)
    admin_client.post(reverse("admin:profiles_profile_changelist"),
                      {"action": "rotate_links", "_selected_action": [profile.pk]})  # fmt: skip
    with pytest.raises(InvalidToken):
        read_token(PREFERENCES, old)
    assert client.get(f"/preferences/{old}/").status_code == 404
    fresh = type(profile).objects.get(pk=profile.pk)
    assert read_token(PREFERENCES, make_token(PREFERENCES, fresh)).profile == profile


def test_an_sms_sign_up_confirmation_is_a_transactional_text_in_the_outbox(client, settings):
    settings.TWILIO_ACCOUNT_SID = ""
    settings.SMS_SEND_RATE_PER_SECOND = 0
    client.get("/subscribe/")
    from compliance.disclosures import disclosure_current  # noqa: F401  (seeded texts)

    response = client.post("/subscribe/", {"phone": "+14155550177", "sms_consent": "on"})
    assert response.status_code in (200, 302)
    message = Message.objects.get(channel="sms")
    assert (message.category, message.status) == ("transactional", "sent")
    assert "Reply YES to confirm" in message.body_text
