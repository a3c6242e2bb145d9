from django.db import migrations

from profiles.roles import sync_roles


class Migration(migrations.Migration):
    dependencies = [("profiles", "0003_import_job")]

    operations = [migrations.RunPython(sync_roles, migrations.RunPython.noop)]
