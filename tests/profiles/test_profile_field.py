"""The admin's one-profile tools take a profile the way a marketer knows it."""

import pytest
from django.core.exceptions import ValidationError

from profiles.forms import ProfileField
from tests.factories import ProfileFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def dana():
    return ProfileFactory(
        email="dana.demo@example.com", phone="+12125550199", external_id="demo-star"
    )


@pytest.mark.parametrize(
    "typed",
    ["dana.demo@example.com", " Dana.Demo@Example.COM ", "+12125550199", "(212) 555-0199",
     "demo-star"],
)  # fmt: skip
def test_a_profile_is_found_by_email_phone_or_external_id(dana, typed):
    assert ProfileField().clean(typed) == dana


def test_a_profile_is_found_by_its_id(dana):
    assert ProfileField().clean(str(dana.pk)) == dana


def test_an_external_id_that_looks_like_an_id_wins(dana):
    numeric = ProfileFactory(external_id=str(dana.pk + 1000))
    ProfileFactory.create_batch(2)

    assert ProfileField().clean(str(dana.pk + 1000)) == numeric


@pytest.mark.parametrize("typed", ["nobody@example.com", "+12125550100", "no-such-id", "not@"])
def test_an_unknown_profile_is_a_clear_error(dana, typed):
    with pytest.raises(ValidationError, match="No profile has this email, phone number"):
        ProfileField().clean(typed)
