import json

import pytest
from django.urls import reverse

from compliance.models import (
    ConsentAction,
    ConsentEvent,
    ConsentSource,
    ConsentStatus,
    DisclosureText,
    Subscription,
    Suppression,
    Topic,
)
from compliance.services import consent_record, consent_status, is_suppressed
from profiles.hooks import timeline_for
from profiles.services import profile_upsert

pytestmark = pytest.mark.django_db

OPT_IN, OPT_OUT, PENDING = ConsentAction.OPT_IN, ConsentAction.OPT_OUT, ConsentAction.PENDING


def record(profile, channel, action, source, **kwargs):
    return consent_record(profile=profile, channel=channel, action=action, source=source, **kwargs)


def test_contract_functions_take_keyword_arguments_only(profile):
    with pytest.raises(TypeError):
        consent_record(profile, "email", OPT_IN, ConsentSource.API)  # type: ignore[misc]
    with pytest.raises(TypeError):
        consent_status(profile, "email")  # type: ignore[misc]
    with pytest.raises(TypeError):
        is_suppressed("+14155550100", "sms")  # type: ignore[misc]


def test_a_profile_with_no_consent_is_never_subscribed(profile):
    assert consent_status(profile=profile, channel="email") == "never"
    assert consent_status(profile=profile, channel="sms") == "never"


def test_email_consent_never_implies_sms_consent(profile):
    record(profile, "email", OPT_IN, ConsentSource.SIGNUP_FORM)

    assert consent_status(profile=profile, channel="email") == "subscribed"
    assert consent_status(profile=profile, channel="sms") == "never"


def test_every_change_is_a_ledger_row_with_its_evidence(profile):
    disclosure = DisclosureText.objects.create(
        key="signup-sms", version=1, channel="sms", text="Reply STOP to cancel."
    )
    event = record(
        profile,
        "sms",
        OPT_IN,
        ConsentSource.SIGNUP_FORM,
        evidence={"ip": "203.0.113.9", "user_agent": "Mobile Safari"},
        disclosure=disclosure,
    )

    event.refresh_from_db()
    assert event.address == str(profile.phone)
    assert event.evidence == {"ip": "203.0.113.9", "user_agent": "Mobile Safari"}
    assert event.disclosure.text == "Reply STOP to cancel."
    assert event.applied is True


def test_the_ledger_is_append_only(profile):
    event = record(profile, "email", OPT_IN, ConsentSource.API)

    event.outcome = "edited"
    with pytest.raises(ValueError, match="append-only"):
        event.save()
    with pytest.raises(ValueError, match="append-only"):
        event.delete()
    assert ConsentEvent.objects.get(pk=event.pk).outcome == "opted in"


def test_an_import_opt_in_never_lifts_the_persons_unsubscribe(profile):
    record(profile, "email", OPT_OUT, ConsentSource.ONE_CLICK)

    refused = record(profile, "email", OPT_IN, ConsentSource.IMPORT, evidence={"job": 7})

    assert refused.applied is False
    assert "only the person can opt back in" in refused.outcome
    assert consent_status(profile=profile, channel="email") == "unsubscribed"
    assert ConsentEvent.objects.filter(profile=profile).count() == 2


@pytest.mark.parametrize("source", [ConsentSource.API, ConsentSource.ADMIN])
def test_api_and_admin_opt_ins_cannot_lift_an_opt_out_either(profile, source):
    record(profile, "sms", OPT_OUT, ConsentSource.SMS_KEYWORD)

    assert record(profile, "sms", OPT_IN, source).applied is False
    assert consent_status(profile=profile, channel="sms") == "unsubscribed"


def test_the_person_can_opt_back_in(profile):
    record(profile, "email", OPT_OUT, ConsentSource.ONE_CLICK)

    event = record(profile, "email", OPT_IN, ConsentSource.PREFERENCE_CENTRE)

    assert event.applied is True
    assert consent_status(profile=profile, channel="email") == "subscribed"


def test_stop_suppresses_the_number_for_whoever_holds_it_later(profile):
    number = str(profile.phone)
    record(profile, "sms", OPT_OUT, ConsentSource.SMS_KEYWORD, evidence={"body": "STOP"})
    profile.delete()

    newcomer = profile_upsert(phone=number, email="new.owner@example.com")
    refused = record(newcomer, "sms", OPT_IN, ConsentSource.IMPORT)

    assert is_suppressed(address=number, channel="sms") is True
    assert refused.applied is False
    assert "address suppressed" in refused.outcome
    assert consent_status(profile=newcomer, channel="sms") == "never"


def test_stop_from_an_unknown_number_creates_an_address_suppression(db):
    record(None, "sms", OPT_OUT, ConsentSource.SMS_KEYWORD, address="+1 (415) 555-0199")

    assert is_suppressed(address="+14155550199", channel="sms") is True
    assert Suppression.objects.get().reason == "sms_stop"
    claimed = profile_upsert(phone="+14155550199")
    assert record(claimed, "sms", OPT_IN, ConsentSource.API).applied is False


def test_start_from_the_person_lifts_the_suppression_and_keeps_the_row(profile):
    number = str(profile.phone)
    record(profile, "sms", OPT_OUT, ConsentSource.SMS_KEYWORD)

    record(profile, "sms", OPT_IN, ConsentSource.SMS_KEYWORD, evidence={"body": "START"})

    assert is_suppressed(address=number, channel="sms") is False
    suppression = Suppression.objects.get(address=number)
    assert suppression.lifted_at is not None
    assert consent_status(profile=profile, channel="sms") == "subscribed"


def test_a_complaint_suppresses_the_email_address(profile):
    record(profile, "email", OPT_OUT, ConsentSource.COMPLAINT)

    assert is_suppressed(address=profile.email.upper(), channel="email") is True


def test_sms_consent_needs_a_mobile_number(db):
    toll_free = profile_upsert(phone="+18005550123")

    with pytest.raises(ValueError, match="not a mobile number"):
        record(toll_free, "sms", OPT_IN, ConsentSource.SIGNUP_FORM)
    assert ConsentEvent.objects.count() == 0


def test_double_opt_in_is_pending_until_confirmed(profile):
    record(profile, "email", PENDING, ConsentSource.SIGNUP_FORM)
    assert consent_status(profile=profile, channel="email") == "pending"

    record(profile, "email", OPT_IN, ConsentSource.DOUBLE_OPT_IN)
    assert consent_status(profile=profile, channel="email") == "subscribed"


def test_topics_follow_channel_consent_and_their_default(profile):
    offers, news = Topic.objects.get(key="offers"), Topic.objects.get(key="news")
    news.is_default = False
    news.save()
    assert consent_status(profile=profile, channel="email", topic=offers) == "never"

    record(profile, "email", OPT_IN, ConsentSource.SIGNUP_FORM)
    record(profile, "email", OPT_OUT, ConsentSource.PREFERENCE_CENTRE, topic="offers")

    assert consent_status(profile=profile, channel="email", topic="offers") == "unsubscribed"
    assert consent_status(profile=profile, channel="email", topic=news) == "never"
    assert consent_status(profile=profile, channel="email") == "subscribed"


def test_a_channel_opt_out_covers_every_topic(profile):
    record(profile, "email", OPT_IN, ConsentSource.SIGNUP_FORM, topic="offers")
    record(profile, "email", OPT_OUT, ConsentSource.ONE_CLICK)

    assert consent_status(profile=profile, channel="email", topic="offers") == "unsubscribed"


def test_a_repeated_idempotency_key_records_once(profile):
    first = record(profile, "sms", OPT_OUT, ConsentSource.SMS_KEYWORD, idempotency_key="SM1")
    second = record(profile, "sms", OPT_OUT, ConsentSource.SMS_KEYWORD, idempotency_key="SM1")

    assert first.pk == second.pk
    assert ConsentEvent.objects.count() == 1


def test_merging_profiles_keeps_the_persons_refusal(db):
    by_email = profile_upsert(email="sam@example.com")
    by_phone = profile_upsert(phone="+14155550142")
    record(by_email, "sms", OPT_IN, ConsentSource.API, address="+14155550142")
    record(by_phone, "sms", OPT_OUT, ConsentSource.PREFERENCE_CENTRE)

    survivor = profile_upsert(email="sam@example.com", phone="+14155550142")

    assert survivor.pk == by_email.pk
    assert consent_status(profile=survivor, channel="sms") == "unsubscribed"
    assert Subscription.objects.filter(profile=survivor, channel="sms").count() == 1
    assert ConsentEvent.objects.filter(profile=survivor).count() == 2


def test_consent_changes_join_the_profile_timeline(profile):
    record(profile, "sms", OPT_OUT, ConsentSource.SMS_KEYWORD)

    entry = next(e for e in timeline_for(profile) if e.kind == "consent")
    assert entry.title == "Opt out: SMS (all topics)"
    assert entry.detail.startswith("SMS keyword")


def test_the_admin_cannot_edit_or_delete_the_ledger(admin_client, profile):
    event = record(profile, "email", OPT_IN, ConsentSource.API)

    change = admin_client.post(
        reverse("admin:compliance_consentevent_change", args=[event.pk]), {"outcome": "x"}
    )
    delete = admin_client.post(
        reverse("admin:compliance_consentevent_delete", args=[event.pk]), {"post": "yes"}
    )

    assert change.status_code == 403
    assert delete.status_code == 403
    assert ConsentEvent.objects.get(pk=event.pk).outcome == "opted in"


def test_an_admin_change_needs_a_reason_and_records_the_admin(admin_client, admin_user, profile):
    url = reverse("admin:compliance_subscription_record")
    form = {"profile": profile.pk, "channel": "email", "action": OPT_OUT}

    missing_reason = admin_client.post(url, form)
    assert missing_reason.status_code == 200
    assert ConsentEvent.objects.count() == 0

    admin_client.post(url, {**form, "reason": "Customer asked by phone, ticket 812"})
    event = ConsentEvent.objects.get()
    assert event.source == "admin"
    assert event.actor == admin_user
    assert event.evidence["reason"] == "Customer asked by phone, ticket 812"
    assert consent_status(profile=profile, channel="email") == "unsubscribed"


def test_the_evidence_pack_holds_every_event_with_its_disclosure(admin_client, profile):
    disclosure = DisclosureText.objects.create(
        key="signup-email",
        version=3,
        channel="email",
        text="Emails about offers. Unsubscribe any time.",
    )
    event = record(profile, "email", OPT_IN, ConsentSource.SIGNUP_FORM, disclosure=disclosure)
    record(profile, "email", OPT_OUT, ConsentSource.ONE_CLICK)

    response = admin_client.post(
        reverse("admin:compliance_consentevent_changelist"),
        {"action": "export_evidence", "_selected_action": [event.pk]},
    )

    [pack] = json.loads(response.content)
    assert pack["address"] == profile.email
    assert [e["action"] for e in pack["consent_events"]] == ["opt_in", "opt_out"]
    assert pack["consent_events"][0]["disclosure"]["text"] == disclosure.text


def test_consent_status_values_are_the_four_contract_strings():
    assert set(ConsentStatus.values) == {"subscribed", "unsubscribed", "pending", "never"}
