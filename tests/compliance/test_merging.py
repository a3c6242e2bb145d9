from datetime import UTC, datetime

import pytest

from compliance.models import ContactPreference
from compliance.tokens import PREFERENCES, InvalidToken, make_token, read_token
from profiles.services import profile_upsert

pytestmark = pytest.mark.django_db


def test_merge_keeps_one_preference_with_the_longer_pause_and_retires_old_links():
    by_email = profile_upsert(email="sam@example.com")
    by_phone = profile_upsert(phone="+14155550142")
    ContactPreference.objects.create(profile=by_email, primary_channel="email")
    ContactPreference.objects.create(
        profile=by_phone, paused_until=datetime(2027, 1, 1, tzinfo=UTC)
    )
    old_link = make_token(PREFERENCES, by_email)

    survivor = profile_upsert(email="sam@example.com", phone="+14155550142")

    preference = ContactPreference.objects.get()
    assert preference.profile == survivor
    assert preference.primary_channel == "email"
    assert preference.paused_until == datetime(2027, 1, 1, tzinfo=UTC)
    with pytest.raises(InvalidToken):
        read_token(PREFERENCES, old_link)


def test_merge_moves_the_absorbed_preference_when_the_survivor_has_none():
    by_email = profile_upsert(email="kim@example.com")
    by_phone = profile_upsert(phone="+14155550143")
    ContactPreference.objects.create(profile=by_phone, primary_channel="sms")

    survivor = profile_upsert(email="kim@example.com", phone="+14155550143")

    assert ContactPreference.objects.get().profile == survivor
    assert survivor.pk == by_email.pk


def test_merge_keeps_a_keyword_review_on_the_survivor():
    from compliance.models import InboundSms, KeywordReview

    by_email = profile_upsert(email="lee@example.com")
    by_phone = profile_upsert(phone="+14155550144")
    inbound = InboundSms.objects.create(message_sid="SM9", from_number="+14155550144", body="hm")
    review = KeywordReview.objects.create(address="+14155550144", profile=by_phone, inbound=inbound)

    survivor = profile_upsert(email="lee@example.com", phone="+14155550144")

    review.refresh_from_db()
    assert review.profile == survivor == by_email
