"""The dispatch batch's lean reads give exactly what the ORM gives."""

import pytest
from django.db import connection
from django.db.models import F

from channels.links import PendingLink, links_save, short_url
from channels.models import Link, Message
from channels.models.tracking import CODE_ALPHABET, CODE_LENGTH, new_link_code
from channels.rendering import _segments
from channels.segments import count
from channels.services.rows import AnyOf, concrete_attnames, fast_timestamps, instances
from compliance.models import ContactPreference
from profiles.models import Event, Profile
from tests.channels.factories import MessageFactory
from tests.factories import EventFactory, ProfileFactory

pytestmark = pytest.mark.django_db


def _state(obj):
    fields = {f.attname: getattr(obj, f.attname) for f in type(obj)._meta.concrete_fields}
    types = {name: type(value) for name, value in fields.items()}
    return fields, types, obj._state.adding, obj._state.db


@pytest.mark.parametrize("model", [Profile, Message, Event, ContactPreference])
def test_instances_are_what_from_db_builds(model):
    person = ProfileFactory(phone="+14155550123", traits={"plan": "gold", "n": 1})
    ProfileFactory(phone=None, email=None)
    ContactPreference.objects.create(profile=person, token_version=3)
    MessageFactory(profile=person, context={"a": [1, "b"]}, headers={"X": "y"})
    EventFactory(profile=person, properties={"product": "Tea"})

    with fast_timestamps():
        rows = model.objects.order_by("pk").values_list(*concrete_attnames(model))
        built = instances(model, rows, db=rows.db)
    expected = list(model.objects.order_by("pk"))
    assert [_state(obj) for obj in built] == [_state(obj) for obj in expected]
    assert all(type(obj) is model for obj in built)


def test_a_north_american_number_is_built_as_phonenumbers_parses_it():
    import random

    from phonenumber_field.phonenumber import PhoneNumber, to_python

    from channels.services.rows import phone_from_db

    rng = random.Random(4)
    numbers = [
        f"+1{npa}{rng.randint(2, 9)}{rng.randint(0, 999_999):06d}"
        for npa in range(200, 1000)
        for _ in range(3)
    ]
    for value in [*numbers, "+442071838750", "+1415555", "415-555-0123", "", None, "junk"]:
        built, parsed = phone_from_db(value), to_python(value)
        assert type(built) is type(parsed)
        if isinstance(parsed, PhoneNumber):
            assert built.__dict__ == parsed.__dict__ and built == parsed
        else:
            assert built == parsed


def test_fast_timestamps_read_the_same_aware_datetimes_and_restore_django_s_loader():
    MessageFactory.create_batch(3)
    before = list(Message.objects.order_by("pk").values_list("created_at", "updated_at"))
    with fast_timestamps():
        during = list(Message.objects.order_by("pk").values_list("created_at", "updated_at"))
    after = list(Message.objects.order_by("pk").values_list("created_at", "updated_at"))
    assert before == during == after
    assert {value.tzinfo for row in during for value in row} == {
        value.tzinfo for row in before for value in row
    }


@pytest.mark.parametrize("values", [[], [1], list(range(1, 300))])
def test_any_of_finds_what_in_finds(values):
    messages = MessageFactory.create_batch(5)
    ids = [m.pk for m in messages][: len(values)] + values
    found = set(Message.objects.filter(AnyOf(F("pk"), ids)).values_list("pk", flat=True))
    assert found == set(Message.objects.filter(pk__in=ids).values_list("pk", flat=True))
    excluded = set(Message.objects.exclude(AnyOf(F("pk"), ids)).values_list("pk", flat=True))
    assert excluded == set(Message.objects.exclude(pk__in=ids).values_list("pk", flat=True))


def test_link_codes_are_drawn_from_the_whole_alphabet():
    codes = [new_link_code() for _ in range(3000)]
    assert all(len(code) == CODE_LENGTH and set(code) <= set(CODE_ALPHABET) for code in codes)
    assert set("".join(codes)) == set(CODE_ALPHABET)
    assert len(set(codes)) == len(codes)


def test_a_batch_s_links_are_stored_with_their_codes():
    message = MessageFactory(body_text="x")
    links = [
        PendingLink(message, f"https://shop.example.com/{i}", new_link_code()) for i in range(3)
    ]
    links_save(links)
    stored = {(link.code, link.url, link.message_id) for link in Link.objects.all()}
    assert stored == {(link.code, link.url, message.pk) for link in links}
    assert all(link.clicks == 0 and link.created_at for link in Link.objects.all())


def test_a_code_collision_draws_new_codes_and_rewrites_the_body():
    message = MessageFactory()
    taken = Link.objects.create(message=MessageFactory(), url="https://other.example.com/")
    pending = PendingLink(message, "https://shop.example.com/sale", taken.code)
    message.body_text = f"Sale {short_url(pending)} now"

    links_save([pending])

    saved = Link.objects.get(message=message)
    assert saved.code != taken.code and saved.url == pending.url
    assert message.body_text == f"Sale {saved.short_url} now"


def test_two_links_of_a_batch_drawn_with_one_code_get_two_codes():
    first, second = MessageFactory(), MessageFactory()
    code = new_link_code()
    links = [
        PendingLink(first, "https://shop.example.com/a", code),
        PendingLink(second, "https://shop.example.com/b", code),
    ]
    first.body_text, second.body_text = short_url(links[0]), short_url(links[1])

    links_save(links)

    stored = {link.message_id: link for link in Link.objects.all()}
    assert len({link.code for link in stored.values()}) == 2
    assert first.body_text == stored[first.pk].short_url
    assert second.body_text == stored[second.pk].short_url
    assert {link.url for link in stored.values()} == {link.url for link in links}


@pytest.mark.parametrize(
    "text",
    ["", "x", "x" * 160, "x" * 161, "x" * 306, "x" * 307, "a^b" * 60, "’" * 71, "é" * 200],
)
def test_segments_count_as_count_does(text):
    assert _segments(text) == count(text).segments


def test_reads_use_one_array_parameter_on_postgresql():
    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL only")
    sql, params = Message.objects.filter(AnyOf(F("pk"), [1, 2, 3])).query.sql_with_params()
    assert "= ANY(%s::bigint[])" in sql and list(params) == ["{1,2,3}"]


AWKWARD = ['a"b', "c\\d", "NULL", "", "x,y", "{z}", " sp ", "it's", "zoë", '\\"', 'é,"}']


def test_strings_match_exactly_through_the_array_literal():
    people = [ProfileFactory(email=None, external_id=value) for value in AWKWARD if value]
    found = Profile.objects.filter(AnyOf(F("external_id"), AWKWARD)).values_list("pk", flat=True)
    assert set(found) == {p.pk for p in people}
    assert not Profile.objects.filter(AnyOf(F("external_id"), ["a", "b\\"])).exists()


def test_the_locked_profiles_are_what_select_related_gives():
    from django.db import transaction

    from channels.services.dispatch import _locked_messages, _locked_profiles

    people = [
        ProfileFactory(phone="+14155550123", traits={"state": "FL"}),
        ProfileFactory(phone="+442071838750"),
        ProfileFactory(phone=None),
    ]
    ContactPreference.objects.create(profile=people[0], token_version=2, primary_channel="sms")
    messages = [MessageFactory(profile=person) for person in people]
    ids = [m.pk for m in messages]

    with transaction.atomic(), fast_timestamps():
        profiles = _locked_profiles(ids)
        locked = _locked_messages(ids, profiles)
    expected = {p.pk: p for p in Profile.objects.select_related("preference")}
    assert set(profiles) == set(expected)
    for pk, profile in profiles.items():
        assert _state(profile) == _state(expected[pk])
        mine = Profile.preference.related.get_cached_value(profile)
        theirs = Profile.preference.related.get_cached_value(expected[pk])
        assert (mine and _state(mine)) == (theirs and _state(theirs))
    assert [_state(m) for m in locked] == [_state(m) for m in Message.objects.order_by("pk")]
    assert all(m.template.switch_template is None for m in locked)


def test_a_compiled_read_belongs_to_its_thread_s_connection():
    import threading

    from django.db import connections

    from compliance.reads import read_rows

    MessageFactory()
    ids = list(Message.objects.values_list("pk", flat=True))

    def build(pks):
        return Message.objects.filter(AnyOf(F("pk"), pks)).order_by().values_list("pk")

    assert read_rows("test:pks", build, ids) == [(pk,) for pk in ids]
    mine = connections[connection.alias]
    seen = {}

    def other_thread():
        seen["compiled"] = "_tandem_compiled_reads" in connections[connection.alias].__dict__
        connections.close_all()

    thread = threading.Thread(target=other_thread)
    thread.start()
    thread.join()
    assert seen["compiled"] is False
    assert (
        connection.vendor != "postgresql" or "test:pks" in mine.__dict__["_tandem_compiled_reads"]
    )
