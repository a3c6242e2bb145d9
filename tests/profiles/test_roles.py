"""Admin roles: the groups the migrations create and what each may do."""

import pytest
from django.contrib.auth.models import Group, Permission

from profiles.roles import sync_roles
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def _codenames(role: str, app_label: str = "profiles") -> set[str]:
    """The role's permissions on one app's models (other apps add their own)."""
    permissions = Group.objects.get(name=role).permissions.filter(content_type__app_label=app_label)
    return set(permissions.values_list("codename", flat=True))


def test_the_three_roles_exist_after_migrations():
    assert set(Group.objects.values_list("name", flat=True)) >= {
        "Marketer",
        "Compliance",
        "Viewer",
    }


def test_a_viewer_can_only_view():
    every_app = Group.objects.get(name="Viewer").permissions.values_list("codename", flat=True)

    assert _codenames("Viewer") == {
        "view_profile",
        "view_event",
        "view_profilemerge",
        "view_importjob",
    }
    assert [codename for codename in every_app if not codename.startswith("view_")] == []


def test_a_marketer_can_add_and_change_profiles_but_only_view_history():
    assert _codenames("Marketer") == {
        "view_profile",
        "add_profile",
        "change_profile",
        "view_event",
        "view_profilemerge",
        "view_importjob",
        "add_importjob",
    }


def test_compliance_can_change_profiles_and_revoke_api_tokens():
    assert _codenames("Compliance") == {
        "view_profile",
        "change_profile",
        "view_event",
        "view_profilemerge",
        "view_apitoken",
        "change_apitoken",
        "view_importjob",
        "add_importjob",
        "change_importjob",
    }


def test_no_role_can_add_change_or_delete_events():
    write_event = Permission.objects.filter(
        content_type__app_label="profiles",
        codename__in=["add_event", "change_event", "delete_event"],
    )

    assert write_event.count() == 3
    assert not Group.objects.filter(permissions__in=write_event).exists()


@pytest.mark.parametrize("role", ["Marketer", "Compliance", "Viewer"])
def test_only_a_superuser_may_add_events(role):
    member = UserFactory(is_staff=True)
    member.groups.add(Group.objects.get(name=role))
    superuser = UserFactory(is_staff=True, is_superuser=True)

    assert member.has_perm("profiles.view_event")
    assert not member.has_perm("profiles.add_event")
    assert superuser.has_perm("profiles.add_event")


def test_a_marketer_user_can_change_profiles():
    marketer = UserFactory(is_staff=True)
    marketer.groups.add(Group.objects.get(name="Marketer"))

    assert marketer.has_perm("profiles.change_profile")
    assert not marketer.has_perm("profiles.delete_profile")
    assert not marketer.has_perm("profiles.view_apitoken")


def test_syncing_roles_again_changes_nothing():
    from django.apps import apps

    before = {role: _codenames(role) for role in ("Marketer", "Compliance", "Viewer")}

    sync_roles(apps)

    assert Group.objects.filter(name__in=before).count() == 3
    assert {role: _codenames(role) for role in before} == before
