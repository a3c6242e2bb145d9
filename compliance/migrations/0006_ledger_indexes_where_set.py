"""The ledger's and subscriptions' foreign-key indexes, made smaller for the import's writes.

- compliance_consentevent.profile_id: dropped. consent_profile_time (profile_id, occurred_at)
  starts with it, so every lookup by profile (timeline, sign-up confirmation, the SET NULL
  when a profile is deleted, the foreign-key check) uses that one.
- compliance_consentevent.topic_id, .disclosure_id, .actor_id and compliance_subscription.
  topic_id: replaced by the same index over the rows where the column is set. They are NULL
  on most rows (on every row an import writes); a lookup by one (the delete of a topic, a
  disclosure text or a user, the foreign-key checks) never asks for NULL, and no query
  filters these tables on them being NULL.

The state operations are Django's AlterField(db_index=False); the database ones only drop
the indexes (Django's own AlterField would also drop and re-add, and so re-validate, the
foreign-key constraints: a scan of the whole ledger each).
"""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('compliance', '0005_marketing_disclosures'),
        ('profiles', '0004_import_job_roles'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name='consentevent',
                    name='actor',
                    field=models.ForeignKey(blank=True, db_index=False, null=True, on_delete=django.db.models.deletion.SET_NULL, to=settings.AUTH_USER_MODEL),
                ),
                migrations.AlterField(
                    model_name='consentevent',
                    name='disclosure',
                    field=models.ForeignKey(blank=True, db_index=False, null=True, on_delete=django.db.models.deletion.PROTECT, to='compliance.disclosuretext'),
                ),
                migrations.AlterField(
                    model_name='consentevent',
                    name='profile',
                    field=models.ForeignKey(blank=True, db_index=False, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='consent_events', to='profiles.profile'),
                ),
                migrations.AlterField(
                    model_name='consentevent',
                    name='topic',
                    field=models.ForeignKey(blank=True, db_index=False, null=True, on_delete=django.db.models.deletion.PROTECT, to='compliance.topic'),
                ),
                migrations.AlterField(
                    model_name='subscription',
                    name='topic',
                    field=models.ForeignKey(blank=True, db_index=False, null=True, on_delete=django.db.models.deletion.CASCADE, to='compliance.topic'),
                ),
            ],
            database_operations=[
                migrations.RunSQL(
                    'DROP INDEX IF EXISTS "compliance_consentevent_actor_id_678903e5"',
                    reverse_sql='CREATE INDEX "compliance_consentevent_actor_id_678903e5" ON "compliance_consentevent" ("actor_id")',
                ),
                migrations.RunSQL(
                    'DROP INDEX IF EXISTS "compliance_consentevent_disclosure_id_22ce23fc"',
                    reverse_sql='CREATE INDEX "compliance_consentevent_disclosure_id_22ce23fc" ON "compliance_consentevent" ("disclosure_id")',
                ),
                migrations.RunSQL(
                    'DROP INDEX IF EXISTS "compliance_consentevent_profile_id_ec7d69ae"',
                    reverse_sql='CREATE INDEX "compliance_consentevent_profile_id_ec7d69ae" ON "compliance_consentevent" ("profile_id")',
                ),
                migrations.RunSQL(
                    'DROP INDEX IF EXISTS "compliance_consentevent_topic_id_889da405"',
                    reverse_sql='CREATE INDEX "compliance_consentevent_topic_id_889da405" ON "compliance_consentevent" ("topic_id")',
                ),
                migrations.RunSQL(
                    'DROP INDEX IF EXISTS "compliance_subscription_topic_id_ce08c987"',
                    reverse_sql='CREATE INDEX "compliance_subscription_topic_id_ce08c987" ON "compliance_subscription" ("topic_id")',
                ),
            ],
        ),
        migrations.AddIndex(
            model_name='consentevent',
            index=models.Index(condition=models.Q(('topic__isnull', False)), fields=['topic'], name='consent_topic'),
        ),
        migrations.AddIndex(
            model_name='consentevent',
            index=models.Index(condition=models.Q(('disclosure__isnull', False)), fields=['disclosure'], name='consent_disclosure'),
        ),
        migrations.AddIndex(
            model_name='consentevent',
            index=models.Index(condition=models.Q(('actor__isnull', False)), fields=['actor'], name='consent_actor'),
        ),
        migrations.AddIndex(
            model_name='subscription',
            index=models.Index(condition=models.Q(('topic__isnull', False)), fields=['topic'], name='subscription_topic'),
        ),
    ]
