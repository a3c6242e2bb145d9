"""Admin roles as groups: what each role may do, by permission codename.

Every app that adds models extends ROLE_PERMISSIONS and runs `sync_roles` from a data
migration, so a fresh database and an upgraded one end up with the same groups.
"""

from django.contrib.auth.management import create_permissions

# role -> {app_label: {model: actions}}
ROLE_PERMISSIONS: dict[str, dict[str, dict[str, tuple[str, ...]]]] = {
    "Marketer": {
        "profiles": {
            "profile": ("view", "add", "change"),
            "event": ("view",),
            "profilemerge": ("view",),
            "importjob": ("view", "add"),
        },
        "compliance": {
            "topic": ("view", "add", "change"),
            "subscription": ("view",),
            "consentevent": ("view",),
            "suppression": ("view",),
            "disclosuretext": ("view",),
            "contactpreference": ("view",),
            "frequencycap": ("view", "add", "change"),
            "inboundsms": ("view",),
            "keywordreview": ("view",),
        },
        "channels": {
            "messagetemplate": ("view", "add", "change"),
            "message": ("view",),
            "link": ("view",),
            "deliveryalert": ("view",),
        },
        "journeys": {
            "journey": ("view", "add", "change"),
            "step": ("view", "add", "change", "delete"),
            "journeyversion": ("view",),
            "enrollment": ("view",),
            "steplog": ("view",),
        },
    },
    "Compliance": {
        "profiles": {
            "profile": ("view", "change"),
            "event": ("view",),
            "profilemerge": ("view",),
            "apitoken": ("view", "change"),
            "importjob": ("view", "add", "change"),
        },
        "compliance": {
            "topic": ("view", "change"),
            "subscription": ("view",),
            "consentevent": ("view", "add"),
            "suppression": ("view",),
            "disclosuretext": ("view", "add"),
            "contactpreference": ("view", "change"),
            "frequencycap": ("view", "add", "change"),
            "inboundsms": ("view",),
            "keywordreview": ("view", "change"),
        },
        "channels": {
            "messagetemplate": ("view",),
            "message": ("view",),
            "link": ("view",),
            "deliveryalert": ("view", "change"),
        },
        "journeys": {
            "journey": ("view",),
            "step": ("view",),
            "journeyversion": ("view",),
            "enrollment": ("view",),
            "steplog": ("view",),
        },
    },
    "Viewer": {
        "profiles": {
            "profile": ("view",),
            "event": ("view",),
            "profilemerge": ("view",),
            "importjob": ("view",),
        },
        "compliance": {
            "topic": ("view",),
            "subscription": ("view",),
            "consentevent": ("view",),
            "suppression": ("view",),
            "disclosuretext": ("view",),
            "contactpreference": ("view",),
            "frequencycap": ("view",),
            "inboundsms": ("view",),
            "keywordreview": ("view",),
        },
        "channels": {
            "messagetemplate": ("view",),
            "message": ("view",),
            "link": ("view",),
            "deliveryalert": ("view",),
        },
        "journeys": {
            "journey": ("view",),
            "step": ("view",),
            "journeyversion": ("view",),
            "enrollment": ("view",),
            "steplog": ("view",),
        },
    },
}


def sync_roles(apps, schema_editor=None) -> None:
    """Create the groups and grant their permissions; safe to run any number of times."""
    for app_config in apps.get_app_configs():
        app_config.models_module = True  # create_permissions skips apps without it
        create_permissions(app_config, apps=apps, verbosity=0)
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for role, grants in ROLE_PERMISSIONS.items():
        group, _ = Group.objects.get_or_create(name=role)
        for app_label, models in grants.items():
            for model, actions in models.items():
                codenames = [f"{action}_{model}" for action in actions]
                perms = Permission.objects.filter(
                    content_type__app_label=app_label, codename__in=codenames
                )
                group.permissions.add(*perms)
