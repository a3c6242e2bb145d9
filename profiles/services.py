"""Operations on profiles and events that every other app, view, task and import calls."""

import copy
import logging
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from profiles import hooks
from profiles.identity import Identity, IdentityConflict, IdentityError, build_identity
from profiles.models import Event, Profile, ProfileMerge, validate_time_zone

logger = logging.getLogger(__name__)

PROFILE_FIELDS = ("first_name", "last_name", "time_zone", "locale", "country", "traits")
IDENTIFIERS = ("external_id", "email", "phone")
# Event.value is DECIMAL(14, 2): 12 digits before the point.
VALUE_LIMIT = Decimal(10) ** 12


def profile_upsert(
    *, external_id: str | None = None, email: str | None = None, phone: str | None = None, **fields
) -> Profile:
    """Find the person by external id, then email, then phone; create or update them.

    When the identifiers given point at two or more profiles, the call proves they are
    one person: the others are merged into the first found (external id > email > phone).
    Raises IdentityError for no usable identifier or a malformed one, IdentityConflict
    when the profiles carry different external ids (two people), ValueError for bad fields.
    """
    identity = build_identity(external_id=external_id, email=email, phone=phone)
    if not identity:
        raise IdentityError("no usable identifier: give an external id, email or phone")
    _check_fields(fields)
    known = _find_candidates(identity, lock=False)
    if len(known) == 1 and not _apply(known[0], identity, fields):
        # The common track call: a known person, nothing to write, so no lock, no savepoint.
        return known[0]
    for attempt in range(2):
        try:
            with transaction.atomic():
                return _upsert(identity, fields)
        except IntegrityError:
            # Another request created the same person between our read and write.
            if attempt:
                raise
    raise AssertionError("unreachable")


class ProfileIndex:
    """The profiles a run of calls names, read in one query (for batches and imports).

    `known()` answers only the read-only case (one profile, nothing to change); anything
    else goes through `profile_upsert`, after which the caller `remember`s the result, or
    builds a new index when the call `named` two or more profiles (a merge).
    """

    def __init__(self, identities: list[dict[str, str | None]]):
        values: dict[str, set[str]] = {name: set() for name in IDENTIFIERS}
        for identity in identities:
            for name in IDENTIFIERS:
                if identity.get(name):
                    values[name].add(str(identity[name]))
        query = Q(pk__in=[])
        for name, wanted in values.items():
            if wanted:
                query |= Q(**{f"{name}__in": wanted})
        self._by: dict[tuple[str, str], Profile] = {}
        for profile in Profile.objects.filter(query):
            self.remember(profile)

    def remember(self, profile: Profile) -> None:
        for name in IDENTIFIERS:
            if getattr(profile, name):
                self._by[(name, str(getattr(profile, name)))] = profile

    def named(self, **identifiers: str | None) -> int:
        """How many indexed profiles these identifiers name (two or more: a merge is due)."""
        return len(self._named(identifiers))

    def _named(self, identifiers: dict[str, str | None]) -> set[Profile]:
        found = {self._by.get((name, str(v))) for name, v in identifiers.items() if v}
        found.discard(None)
        return found  # type: ignore[return-value]

    def known(self, *, fields: dict[str, Any], **identifiers: str | None) -> Profile | None:
        """The one profile these identifiers name, if the call would change nothing."""
        found = self._named(identifiers)
        if len(found) != 1:
            return None
        profile = found.pop()
        identity = Identity(**identifiers)
        if identity.external_id and profile.external_id not in (None, identity.external_id):
            return None
        if _apply(copy.copy(profile), identity, fields):
            return None  # a write is due: profile_upsert does it on a fresh, locked row
        return profile


def _check_fields(fields: dict[str, Any]) -> None:
    unknown = set(fields) - set(PROFILE_FIELDS)
    if unknown:
        raise ValueError(f"unknown profile fields: {', '.join(sorted(unknown))}")
    for name, value in fields.items():
        max_length = Profile._meta.get_field(name).max_length
        if max_length and isinstance(value, str) and len(value) > max_length:
            raise ValueError(f"{name} is over {max_length} characters")
    if fields.get("time_zone"):
        try:
            validate_time_zone(fields["time_zone"])
        except ValidationError as exc:
            raise ValueError(exc.messages[0]) from exc
    if "traits" in fields and not isinstance(fields["traits"], dict):
        raise ValueError("traits must be an object")


def _upsert(identity: Identity, fields: dict[str, Any]) -> Profile:
    candidates = _find_candidates(identity, lock=True)
    if not candidates:
        profile = Profile()
    else:
        profile = candidates[0]
        for other in candidates[1:]:
            profile_merge(survivor=profile, absorbed=other, reason=_merge_reason(identity))
    created = profile.pk is None
    changed = _apply(profile, identity, fields)
    if changed or created:
        profile.save()
    if created and hooks.profile_listeners:
        transaction.on_commit(lambda: hooks.announce_profile_created(profile))
    return profile


def _find_candidates(identity: Identity, *, lock: bool) -> list[Profile]:
    """Distinct profiles matching the identity, in priority order.

    Locked rows are taken in primary-key order, so two calls naming the same profiles
    never wait on each other crosswise (deadlock); NO KEY UPDATE leaves the key share lock
    that inserting an Event takes on its profile free.
    """
    query = Q()
    for name in IDENTIFIERS:
        value = getattr(identity, name)
        if value:
            query |= Q(**{name: value})
    rows = Profile.objects.filter(query).order_by("pk")
    found = list(rows.select_for_update(no_key=True) if lock else rows)
    ordered: list[Profile] = []
    for name in IDENTIFIERS:
        value = getattr(identity, name)
        for profile in found:
            if value and str(getattr(profile, name) or "") == value and profile not in ordered:
                ordered.append(profile)
    _refuse_conflicts(ordered, identity)
    return ordered


def _refuse_conflicts(candidates: list[Profile], identity: Identity) -> None:
    external_ids = {p.external_id for p in candidates if p.external_id}
    if identity.external_id:
        external_ids.add(identity.external_id)
    if len(external_ids) > 1:
        raise IdentityConflict(
            "these identifiers belong to profiles with different external ids "
            f"({', '.join(sorted(external_ids))}); refusing to merge two people"
        )


def _merge_reason(identity: Identity) -> str:
    given = ", ".join(f"{n}={getattr(identity, n)}" for n in IDENTIFIERS if getattr(identity, n))
    return f"one call named both: {given}"


def _apply(profile: Profile, identity: Identity, fields: dict[str, Any]) -> bool:
    changed = False
    for name in IDENTIFIERS:
        value = getattr(identity, name)
        if value and str(getattr(profile, name) or "") != value:
            setattr(profile, name, value)
            changed = True
    for name, value in fields.items():
        if name == "traits":
            merged = {**(profile.traits or {}), **value}
            if merged != profile.traits:
                profile.traits = merged
                changed = True
        elif value is not None and getattr(profile, name) != value:
            setattr(profile, name, value)
            changed = True
    return changed


def profile_merge(*, survivor: Profile, absorbed: Profile, reason: str) -> ProfileMerge:
    """Move everything attached to `absorbed` onto `survivor`, record it, delete `absorbed`.

    The survivor keeps its own values; empty ones are filled from the absorbed profile,
    traits are combined (survivor wins), and the absorbed profile's full snapshot is kept.
    """
    if survivor.pk == absorbed.pk:
        raise ValueError("cannot merge a profile into itself")
    with transaction.atomic():
        for handler in list(hooks.merge_handlers):
            handler(survivor, absorbed)
        moved = _move_related_rows(survivor, absorbed)
        snapshot = _snapshot(absorbed)
        _fill_empty_fields(survivor, absorbed)
        absorbed_id = absorbed.pk
        absorbed.delete()  # first: frees its unique email/phone for the survivor
        survivor.save()
        merge = ProfileMerge.objects.create(
            survivor=survivor,
            merged_profile_id=absorbed_id,
            merged_snapshot=snapshot,
            moved=moved,
            reason=reason[:255],
        )
    logger.info("merged profile %s into %s (%s)", absorbed_id, survivor.pk, reason)
    return merge


def _move_related_rows(survivor: Profile, absorbed: Profile) -> dict[str, int]:
    moved: dict[str, int] = {}
    for relation in Profile._meta.related_objects:
        if not (relation.one_to_many or relation.one_to_one):
            continue
        model = relation.related_model
        field_name = relation.field.name
        count = model._base_manager.filter(**{field_name: absorbed}).update(
            **{field_name: survivor}
        )
        if count:
            moved[model._meta.label] = count
    return moved


def _snapshot(profile: Profile) -> dict[str, Any]:
    data: dict[str, Any] = {}
    for field in Profile._meta.concrete_fields:
        value = getattr(profile, field.attname)
        if isinstance(value, datetime):
            value = value.isoformat()
        elif value is not None and not isinstance(value, (str, int, float, bool, dict, list)):
            value = str(value)
        data[field.attname] = value
    return data


def _fill_empty_fields(survivor: Profile, absorbed: Profile) -> None:
    for name in (*IDENTIFIERS, "first_name", "last_name", "time_zone", "locale", "country"):
        if not getattr(survivor, name) and getattr(absorbed, name):
            setattr(survivor, name, getattr(absorbed, name))
    survivor.traits = {**(absorbed.traits or {}), **(survivor.traits or {})}


def event_track(
    *,
    profile: Profile,
    name: str,
    properties: dict[str, Any] | None = None,
    occurred_at: datetime | None = None,
    idempotency_key: str | None = None,
    source: str,
    channel: str = "",
    value: Decimal | None = None,
) -> Event:
    """Store one event on the profile's timeline; a repeated idempotency key stores nothing.

    Listeners (journey triggers, goals, wake-ups) hear about a new event once it commits.
    """
    event = event_build(
        profile=profile,
        name=name,
        properties=properties,
        occurred_at=occurred_at,
        idempotency_key=idempotency_key,
        source=source,
        channel=channel,
        value=value,
    )
    try:
        with transaction.atomic():
            event.save()
    except IntegrityError:
        if not idempotency_key:
            raise
        return Event.objects.get(idempotency_key=idempotency_key)
    _announce_after_commit(event)
    return event


def event_build(
    *,
    profile: Profile,
    name: str,
    properties: dict[str, Any] | None = None,
    occurred_at: datetime | None = None,
    idempotency_key: str | None = None,
    source: str,
    channel: str = "",
    value: Decimal | None = None,
) -> Event:
    """A validated, unsaved Event, for `event_track` and `event_track_many`."""
    name = (name or "").strip()
    if not name:
        raise ValueError("an event needs a name")
    properties = properties or {}
    return Event(
        profile=profile,
        name=name[:200],
        properties=properties,
        occurred_at=occurred_at or timezone.now(),
        source=source,
        channel=channel,
        value=value if value is not None else _value_from(properties),
        idempotency_key=idempotency_key or None,
    )


def event_track_many(*, events: list[Event]) -> list[Event]:
    """Store many built events in one insert; the same contract as `event_track` each.

    Returns one stored Event per input, in order: an idempotency key already stored (or
    repeated in the list) gives back the first row with it, and stores nothing.
    """
    keys = [event.idempotency_key for event in events if event.idempotency_key]
    known = {e.idempotency_key: e for e in Event.objects.filter(idempotency_key__in=keys)}
    fresh: list[Event] = []
    stored: list[Event] = []
    for event in events:
        key = event.idempotency_key
        if key and key in known:
            stored.append(known[key])
            continue
        if key:
            known[key] = event
        fresh.append(event)
        stored.append(event)
    try:
        with transaction.atomic():
            Event.objects.bulk_create(fresh)
    except IntegrityError:
        # A concurrent request stored one of these keys since our read: one by one.
        return [_track_built(event) for event in events]
    for event in fresh:
        _announce_after_commit(event)
    return stored


def _track_built(event: Event) -> Event:
    fields = {f: getattr(event, f) for f in ("name", "properties", "occurred_at", "source")}
    return event_track(
        profile=event.profile,
        idempotency_key=event.idempotency_key,
        channel=event.channel,
        value=event.value,
        **fields,
    )


def _announce_after_commit(event: Event) -> None:
    # robust: the event is stored either way; a broken listener is logged, and must not
    # turn a committed call into an error that makes the client send it again.
    transaction.on_commit(lambda: hooks.announce_event(event), robust=True)


def _value_from(properties: dict[str, Any]) -> Decimal | None:
    """Segment's e-commerce spec puts money in `revenue`, `value` or `total`.

    A number Event.value cannot hold (NaN, infinite, too large) is left in properties only.
    """
    for key in ("revenue", "value", "total"):
        raw = properties.get(key)
        if raw is None or isinstance(raw, bool):
            continue
        try:
            amount = Decimal(str(raw)).quantize(Decimal("0.01"))
        except (InvalidOperation, ValueError):
            continue
        if amount.is_finite() and abs(amount) < VALUE_LIMIT:
            return amount
    return None
