"""What the person does on the preference centre and the one-click page, as services.

Every consent change is a ledger row with source preference_centre (or one_click) and the
request's evidence; these sources belong to the person, so they may lift their own earlier
opt-out or STOP. Each service returns the changes in words, for the page to show.
"""

import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import phonenumbers
from django.db import IntegrityError, transaction
from django.utils import timezone

from compliance import notify
from compliance.disclosures import (
    SMS_MARKETING,
    SMS_NEW_NUMBER,
    disclosure_current,
    sms_confirmation_text,
)
from compliance.models import (
    Category,
    ConsentAction,
    ConsentSource,
    ConsentStatus,
    ContactPreference,
    Subscription,
    Topic,
)
from compliance.services import consent_record, profile_address
from profiles.identity import IdentityError, normalise_phone
from profiles.models import Channel, Profile

SOURCE = ConsentSource.PREFERENCE_CENTRE
PAUSE_WEEKS = (1, 2, 4)
CHANNEL_NAMES = {Channel.EMAIL: "Email", Channel.SMS: "Text messages"}


class PreferenceError(ValueError):
    """A request the page must refuse with this message; nothing was changed."""


@dataclass
class PreferenceState:
    """The person's consent as the preference centre shows it, read in two queries."""

    profile: Profile
    topics: list[Topic]
    statuses: dict[tuple[str, int | None], str] = field(default_factory=dict)

    def channel(self, channel: str) -> str:
        return self.statuses.get((channel, None), ConsentStatus.NEVER)

    def topic_wanted(self, channel: str, topic: Topic) -> bool:
        """The person's choice for the topic, whether or not the channel is on."""
        status = self.statuses.get((channel, topic.pk))
        return topic.is_default if status is None else status == ConsentStatus.SUBSCRIBED

    @property
    def preference(self) -> ContactPreference | None:
        try:
            return self.profile.preference
        except ContactPreference.DoesNotExist:
            return None


# The topic list changes a few times a year and every page view reads it: each process
# keeps it for a minute (an admin's edit shows within TOPICS_TTL seconds).
TOPICS_TTL = 60.0
_topics_cache: tuple[float, list[Topic]] = (0.0, [])


def marketing_topics() -> list[Topic]:
    global _topics_cache
    read_at, topics = _topics_cache
    if time.monotonic() - read_at > TOPICS_TTL:
        topics = list(Topic.objects.filter(is_active=True, category=Category.MARKETING))
        _topics_cache = (time.monotonic(), topics)
    return topics


def marketing_topics_forget() -> None:
    """Drop the cached list (tests, or right after an edit in this process)."""
    global _topics_cache
    _topics_cache = (0.0, [])


def preferences_read(*, profile: Profile) -> PreferenceState:
    rows = Subscription.objects.filter(profile=profile).values_list("channel", "topic_id", "status")
    statuses = {(channel, topic_id): status for channel, topic_id, status in rows}
    return PreferenceState(profile=profile, topics=marketing_topics(), statuses=statuses)


def _record(profile: Profile, channel: str, action: str, evidence: dict, **kwargs: Any):
    return consent_record(
        profile=profile, channel=channel, action=action, source=SOURCE, evidence=evidence, **kwargs
    )


def preferences_update(
    *,
    profile: Profile,
    channels: dict[str, bool],
    topics: dict[tuple[str, str], bool],
    primary_channel: str | None = None,
    evidence: dict[str, Any],
) -> list[str]:
    """Apply the choices the person changed; returns what changed, in words.

    `channels` maps a channel to on/off and `topics` a (channel, topic key) to on/off; only
    the values the person changed are passed. SMS turned on here is the person's own
    consent, shown the SMS disclosure, so it also lifts their earlier STOP.
    """
    changes: list[str] = []
    state = preferences_read(profile=profile)
    with transaction.atomic():
        for channel, wanted in channels.items():
            changes += _channel_change(state, channel, wanted, evidence)
        by_key = {topic.key: topic for topic in state.topics}
        for (channel, key), wanted in topics.items():
            action = ConsentAction.OPT_IN if wanted else ConsentAction.OPT_OUT
            if key in by_key and _can_record(profile, channel, wanted):
                _record(profile, channel, action, evidence, topic=by_key[key])
                verb = "on" if wanted else "off"
                changes.append(f"{CHANNEL_NAMES[channel]}: {by_key[key].name} turned {verb}.")
        if primary_channel is not None:
            changes += _primary_change(profile, primary_channel)
    return changes


def _channel_change(state: PreferenceState, channel: str, wanted: bool, evidence) -> list[str]:
    profile, current = state.profile, state.channel(channel)
    name = CHANNEL_NAMES[channel]
    if not profile_address(profile, channel) or (current == ConsentStatus.SUBSCRIBED) == wanted:
        return []
    if not wanted:
        _record(profile, channel, ConsentAction.OPT_OUT, evidence)
        return [f"{name}: unsubscribed from all marketing."]
    if channel == Channel.SMS and current == ConsentStatus.PENDING:
        return [f"{name}: still waiting for your YES reply to the confirmation text."]
    if not _can_record(profile, channel, wanted):
        return [f"{name}: texts need a mobile number; add one below."]
    disclosure = disclosure_current(key=SMS_MARKETING) if channel == Channel.SMS else None
    _record(profile, channel, ConsentAction.OPT_IN, evidence, disclosure=disclosure)
    return [f"{name}: subscribed."]


def _can_record(profile: Profile, channel: str, wanted: bool) -> bool:
    """An address to record on; an SMS opt-in also needs it to be a mobile number."""
    address = profile_address(profile, channel)
    if channel == Channel.SMS and wanted and address:
        return is_mobile(address)
    return bool(address)


def _primary_change(profile: Profile, primary_channel: str) -> list[str]:
    preference, _ = ContactPreference.objects.get_or_create(profile=profile)
    if preference.primary_channel == primary_channel:
        return []
    preference.primary_channel = primary_channel
    preference.save(update_fields=["primary_channel", "updated_at"])
    if not primary_channel:
        return ["Primary channel: no preference."]
    return [f"Primary channel: {CHANNEL_NAMES[primary_channel].lower()}."]


def pause_set(*, profile: Profile, weeks: int | None, now: datetime | None = None) -> list[str]:
    """Pause all marketing for 1, 2 or 4 weeks; `weeks=None` resumes it."""
    if weeks is not None and weeks not in PAUSE_WEEKS:
        raise PreferenceError("Choose a pause of 1, 2 or 4 weeks.")
    now = now or timezone.now()
    preference, _ = ContactPreference.objects.get_or_create(profile=profile)
    preference.paused_until = now + timedelta(weeks=weeks) if weeks else None
    preference.save(update_fields=["paused_until", "updated_at"])
    if weeks is None:
        return ["Marketing resumed."]
    day = timezone.localtime(preference.paused_until).strftime("%B %-d, %Y")
    return [f"All marketing paused until {day}."]


def unsubscribe_all(*, profile: Profile, evidence: dict[str, Any]) -> list[str]:
    """Opt out of marketing on every channel the person has an address for."""
    state = preferences_read(profile=profile)
    changes: list[str] = []
    with transaction.atomic():
        for channel in (Channel.EMAIL, Channel.SMS):
            has_address = profile_address(profile, channel)
            if has_address and state.channel(channel) != ConsentStatus.UNSUBSCRIBED:
                _record(profile, channel, ConsentAction.OPT_OUT, evidence)
                changes.append(f"{CHANNEL_NAMES[channel]}: unsubscribed from all marketing.")
    return changes or ["You were already unsubscribed from all marketing."]


def is_mobile(e164: str) -> bool:
    kind = phonenumbers.number_type(phonenumbers.parse(e164))
    return kind in (
        phonenumbers.PhoneNumberType.MOBILE,
        phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE,
    )


def mobile_number(raw: str) -> str:
    """E.164 of a valid mobile number, else PreferenceError with a message for the form."""
    try:
        number = normalise_phone(raw)
    except IdentityError as error:
        raise PreferenceError("Enter a valid mobile number, e.g. +1 415 555 0123.") from error
    if not number or not is_mobile(number):
        raise PreferenceError("This is not a mobile number: texts need a mobile number.")
    return number


def phone_change(*, profile: Profile, phone: str, evidence: dict[str, Any]) -> list[str]:
    """Put a new number on the profile and start its SMS double opt-in (reply YES).

    The old number's SMS consent ends here: texts never go to a number the person replaced.
    """
    number = mobile_number(phone)
    old = profile_address(profile, Channel.SMS)
    if number == old and preferences_read(profile=profile).channel(Channel.SMS) in (
        ConsentStatus.SUBSCRIBED,
        ConsentStatus.PENDING,
    ):
        raise PreferenceError("This number is already on file.")
    if Profile.objects.filter(phone=number).exclude(pk=profile.pk).exists():
        raise PreferenceError("We cannot use this number here. Please contact us.")
    try:
        with transaction.atomic():
            _phone_replace(profile, old, number, evidence)
    except IntegrityError as error:  # the number was taken by someone else meanwhile
        raise PreferenceError("We cannot use this number here. Please contact us.") from error
    notify.send("sms_confirmation", profile=profile, address=number, body=sms_confirmation_text())
    return [f"Text messages: we sent a confirmation text to {number}. Reply YES to confirm."]


def _phone_replace(profile: Profile, old: str, number: str, evidence: dict[str, Any]) -> None:
    current = preferences_read(profile=profile).channel(Channel.SMS)
    if old and current in (ConsentStatus.SUBSCRIBED, ConsentStatus.PENDING):
        _record(profile, Channel.SMS, ConsentAction.OPT_OUT, {**evidence, "replaced_by": number})
    profile.phone = number
    profile.save(update_fields=["phone", "updated_at"])
    disclosure = disclosure_current(key=SMS_NEW_NUMBER)
    _record(
        profile, Channel.SMS, ConsentAction.PENDING, evidence, address=number, disclosure=disclosure
    )


def link_unsubscribe(
    *, profile: Profile, channel: str, topic_key: str, evidence: dict[str, Any]
) -> bool:
    """The one-click unsubscribe: the link's topic, else the whole channel's marketing.

    Idempotent: returns False (and records nothing) when already unsubscribed.
    """
    topic = Topic.objects.filter(key=topic_key, category=Category.MARKETING).first()
    state = preferences_read(profile=profile)
    scopes = {None, topic.pk if topic else None}
    done = any(state.statuses.get((channel, s)) == ConsentStatus.UNSUBSCRIBED for s in scopes)
    if done or not profile_address(profile, channel):
        return False
    consent_record(
        profile=profile,
        channel=channel,
        action=ConsentAction.OPT_OUT,
        source=ConsentSource.ONE_CLICK,
        topic=topic,
        evidence=evidence,
    )
    return True
