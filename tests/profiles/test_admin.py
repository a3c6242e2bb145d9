"""The profiles admin: finding people, their timeline, read-only history, API tokens."""

import hashlib

import pytest
from django.urls import reverse

from profiles.models import ApiToken, Event, Profile
from tests.factories import EventFactory, ProfileFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client):
    client.force_login(UserFactory(username="root", is_staff=True, is_superuser=True))
    return client


@pytest.fixture
def three_profiles(db):
    return [
        ProfileFactory(external_id="shop-1", email="ada@example.com", phone="+14155552671"),
        ProfileFactory(external_id="shop-2", email="grace@example.com", phone="+14155552672"),
        ProfileFactory(external_id="shop-3", email="alan@example.org", phone="+14155552673"),
    ]


def _listed(response) -> list[Profile]:
    return list(response.context["cl"].result_list)


def test_a_superuser_opens_the_profile_changelist(admin_client, three_profiles):
    response = admin_client.get(reverse("admin:profiles_profile_changelist"))

    assert response.status_code == 200
    assert set(_listed(response)) == set(three_profiles)


@pytest.mark.parametrize(
    ("query", "index"),
    [("grace@example.com", 1), ("GRACE@", 1), ("+14155552673", 2), ("5552673", 2), ("shop-1", 0)],
)
def test_the_profile_changelist_searches_email_phone_and_external_id(
    admin_client, three_profiles, query, index
):
    response = admin_client.get(reverse("admin:profiles_profile_changelist"), {"q": query})

    assert response.status_code == 200
    assert _listed(response) == [three_profiles[index]]


def test_a_search_that_matches_nobody_lists_nobody(admin_client, three_profiles):
    response = admin_client.get(reverse("admin:profiles_profile_changelist"), {"q": "nobody"})

    assert _listed(response) == []


def test_the_profile_change_page_shows_the_timeline(admin_client, profile):
    event = EventFactory(profile=profile, name="Order Completed", properties={"total": 42})
    EventFactory(name="Someone Else's Event")

    response = admin_client.get(reverse("admin:profiles_profile_change", args=[profile.pk]))

    assert response.status_code == 200
    html = response.content.decode()
    assert 'id="timeline-heading"' in html
    assert "Order Completed" in html
    assert "total: 42" in html
    assert reverse("admin:profiles_event_change", args=[event.pk]) in html
    assert "Someone Else&#x27;s Event" not in html
    assert [entry.title for entry in response.context["timeline"]] == ["Order Completed"]


def test_an_empty_timeline_says_so(admin_client, profile):
    response = admin_client.get(reverse("admin:profiles_profile_change", args=[profile.pk]))

    assert "Nothing on this profile's timeline yet." in response.content.decode()


def test_the_event_add_page_is_forbidden_even_to_a_superuser(admin_client):
    response = admin_client.get(reverse("admin:profiles_event_add"))

    assert response.status_code == 403


def test_an_event_can_be_viewed_but_not_changed_or_deleted(admin_client):
    event = EventFactory(name="Paid")
    change_url = reverse("admin:profiles_event_change", args=[event.pk])

    viewed = admin_client.get(change_url)
    posted = admin_client.post(change_url, {"name": "Refunded"})
    deleted = admin_client.post(
        reverse("admin:profiles_event_delete", args=[event.pk]), {"post": "yes"}
    )

    assert viewed.status_code == 200
    assert posted.status_code == 403
    assert deleted.status_code == 403
    assert Event.objects.get().name == "Paid"


def test_adding_an_api_token_shows_the_secret_once_and_stores_only_its_hash(admin_client):
    response = admin_client.post(
        reverse("admin:profiles_apitoken_add"), {"name": "shop backend"}, follow=True
    )

    assert response.status_code == 200
    token = ApiToken.objects.get()
    assert token.name == "shop backend"
    assert token.created_by.username == "root"
    shown = [str(m) for m in response.context["messages"]]
    secrets = [word for m in shown for word in m.split() if word.startswith("tdm_")]
    assert len(secrets) == 1
    raw = secrets[0]
    assert token.token_hash == hashlib.sha256(raw.encode()).hexdigest()
    assert token.token_prefix == raw[:12]
    stored = [str(v) for v in ApiToken.objects.values_list().get()]
    assert raw not in stored
    assert ApiToken.objects.authenticate(raw) == token

    again = admin_client.get(reverse("admin:profiles_apitoken_change", args=[token.pk]))
    assert raw not in again.content.decode()


def test_the_revoke_action_sets_revoked_at(admin_client):
    kept, _ = ApiToken.generate(name="kept")
    revoked, raw = ApiToken.generate(name="leaked")

    response = admin_client.post(
        reverse("admin:profiles_apitoken_changelist"),
        {"action": "revoke", "_selected_action": [revoked.pk]},
        follow=True,
    )

    assert response.status_code == 200
    revoked.refresh_from_db()
    kept.refresh_from_db()
    assert revoked.revoked_at is not None
    assert kept.revoked_at is None
    assert ApiToken.objects.authenticate(raw) is None
    assert "Revoked 1 token(s)." in [str(m) for m in response.context["messages"]]


def test_an_api_token_cannot_be_deleted(admin_client):
    token, _ = ApiToken.generate(name="shop backend")

    response = admin_client.post(
        reverse("admin:profiles_apitoken_delete", args=[token.pk]), {"post": "yes"}
    )

    assert response.status_code == 403
    assert ApiToken.objects.filter(pk=token.pk).exists()


def _profile_form(**values) -> dict[str, str]:
    form = {
        "external_id": "",
        "email": "",
        "phone": "",
        "first_name": "",
        "last_name": "",
        "time_zone": "",
        "locale": "",
        "country": "",
        "traits": "{}",
    }
    return {**form, **values}


def test_adding_a_profile_in_the_admin_normalises_the_email(admin_client):
    response = admin_client.post(
        reverse("admin:profiles_profile_add"),
        _profile_form(email="Grace@Example.com", phone="(415) 555-2671", first_name="Grace"),
    )

    assert response.status_code == 302
    profile = Profile.objects.get()
    assert (profile.email, str(profile.phone), profile.external_id) == (
        "grace@example.com",
        "+14155552671",
        None,
    )


def test_adding_a_profile_whose_email_differs_only_in_case_is_refused(admin_client):
    ProfileFactory(email="ada@example.com")

    response = admin_client.post(
        reverse("admin:profiles_profile_add"), _profile_form(email="ADA@example.com")
    )

    assert response.status_code == 200
    assert "email" in response.context["adminform"].form.errors
    assert Profile.objects.count() == 1


def test_adding_a_profile_with_a_taken_phone_names_the_owner(admin_client):
    owner = ProfileFactory(phone="+14155552671")

    response = admin_client.post(
        reverse("admin:profiles_profile_add"), _profile_form(phone="+1 415 555 2671")
    )

    assert response.status_code == 200
    assert response.context["adminform"].form.errors["phone"] == [
        f"Profile {owner.pk} ({owner}) already has this."
    ]
    assert Profile.objects.count() == 1


def test_saving_a_profile_unchanged_in_the_admin_keeps_it(admin_client, profile):
    response = admin_client.post(
        reverse("admin:profiles_profile_change", args=[profile.pk]),
        _profile_form(
            external_id=profile.external_id,
            email=profile.email,
            phone=str(profile.phone),
            first_name="Augusta",
            time_zone=profile.time_zone,
        ),
    )

    assert response.status_code == 302
    profile.refresh_from_db()
    assert profile.first_name == "Augusta"
