import pytest

from profiles.models import EventSource
from profiles.services import event_track, profile_upsert

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_admin_opens_a_profiles_timeline(admin_login, live_server):
    profile = profile_upsert(email="grace@example.com", first_name="Grace", last_name="Hopper")
    event_track(
        profile=profile,
        name="Checkout Started",
        properties={"cart_value": 42},
        source=EventSource.API,
    )
    page = admin_login()

    page.click("#content-main a[href='/admin/profiles/profile/']")
    page.fill("#searchbar", "grace@example.com")
    page.press("#searchbar", "Enter")
    page.click("text=Grace Hopper")

    timeline = page.locator(".tandem-timeline")
    assert timeline.locator("h2").inner_text() == "Timeline"
    assert "Checkout Started" in timeline.locator(".timeline-title").first.inner_text()
    assert "cart_value: 42" in timeline.inner_text()
