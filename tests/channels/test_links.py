import pytest

from channels.models import Link
from profiles.hooks import timeline_for
from profiles.models import Event
from tests.channels.factories import MessageFactory, SmsTemplateFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def link(person):
    message = MessageFactory(profile=person, template=SmsTemplateFactory(), status="sent")
    return Link.objects.create(message=message, url="https://shop.example.com/sale?x=1")


def test_a_short_link_redirects_to_its_target(client, link):
    response = client.get(f"/l/{link.code}")

    assert response.status_code == 302
    assert response["Location"] == "https://shop.example.com/sale?x=1"


def test_the_first_click_records_one_clicked_event_with_channel_sms(client, link, person):
    client.get(f"/l/{link.code}")
    client.get(f"/l/{link.code}")

    [event] = Event.objects.filter(profile=person, name="clicked")
    assert event.channel == "sms"
    assert event.properties["url"] == "https://shop.example.com/sale?x=1"
    link.refresh_from_db()
    assert link.clicks == 2
    assert link.message.clicked_at is not None
    titles = [entry.title for entry in timeline_for(person)]
    assert "clicked" in titles


def test_an_unknown_code_is_a_404_and_records_nothing(client, person):
    response = client.get("/l/nOpE123")

    assert response.status_code == 404
    assert Event.objects.count() == 0


def test_a_url_in_place_of_a_code_is_never_followed(client, link):
    response = client.get("/l/https:%2F%2Fevil.example")
    assert response.status_code == 404


def test_the_short_url_is_on_our_own_domain(link):
    assert link.short_url == f"https://tandem.example.com/l/{link.code}"
