from django.conf import settings
from django.db import migrations

from profiles.roles import sync_roles


def create_caps(apps, schema_editor):
    FrequencyCap = apps.get_model("compliance", "FrequencyCap")
    defaults = [
        dict(key="state-sms-24h", name="State limit: marketing texts per 24 h (FL, OK, MD)",
             kind="state_sms", channel="sms", action="defer", position=10),
        dict(key="any-channel-daily", name="At most N marketing messages a day, both channels",
             kind="count", channel="any", max_messages=settings.FREQUENCY_CAP_PER_DAY,
             window_hours=24, action="defer", position=20),
        dict(key="min-gap", name="Minimum gap between two marketing messages",
             kind="gap", channel="any", min_gap_minutes=settings.FREQUENCY_MIN_GAP_MINUTES,
             action="defer", position=30),
    ]
    for row in defaults:
        FrequencyCap.objects.get_or_create(key=row.pop("key"), defaults=row)


class Migration(migrations.Migration):
    dependencies = [("compliance", "0003_preferences_caps_inbound")]

    operations = [
        migrations.RunPython(sync_roles, migrations.RunPython.noop),
        migrations.RunPython(create_caps, migrations.RunPython.noop),
    ]
