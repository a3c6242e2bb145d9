from django.db import migrations

from profiles.roles import sync_roles


class Migration(migrations.Migration):
    dependencies = [("channels", "0001_initial"), ("compliance", "0004_default_caps")]

    operations = [migrations.RunPython(sync_roles, migrations.RunPython.noop)]
