"""channels_message without its redundant indexes (issue 4, dispatch speed).

Every UPDATE of a message writes a new entry into each of its indexes (status is in two
index predicates, so the claim and the sent record are never HOT updates): each index
costs the dispatch of every message two index inserts. Dropped or narrowed here:

- `profile_id` alone: `message_profile_time` (profile_id, created_at DESC) serves every
  lookup by profile, and the foreign key's ON DELETE.
- the `varchar_pattern_ops` copies PostgreSQL gets for `unique=True`/`db_index=True`
  CharFields (LIKE 'prefix%' under a non-C collation) on `idempotency_key` and
  `provider_message_id`: nothing runs such a LIKE (admin search is icontains, which no
  btree serves). The unique constraint and the provider id's btree stay, now as Meta
  entries (the same index, renamed for the provider id) so Django adds no copy again.
- `trigger_event_id` and `switched_from_id`: NULL for most messages and only ever looked
  up by value (ON DELETE SET NULL, the journey's switched twin): partial indexes of the
  non-NULL values.

Reversible: backwards restores each index as 0001 made it.
"""

import channels.models.outbox
from django.db import migrations, models

PROVIDER_INDEX = "channels_message_provider_message_id_06e7ad40"
PROVIDER_LIKE = f"{PROVIDER_INDEX}_like"
IDEMPOTENCY_LIKE = "channels_message_idempotency_key_bee283f8_like"


def provider_index_forward(apps, schema_editor):
    run = schema_editor.execute
    if schema_editor.connection.vendor == "postgresql":
        run(f"DROP INDEX IF EXISTS {PROVIDER_LIKE}")
        run(f"DROP INDEX IF EXISTS {IDEMPOTENCY_LIKE}")
        run(f"ALTER INDEX {PROVIDER_INDEX} RENAME TO message_provider_id")
    else:  # SQLite has no ALTER INDEX ... RENAME
        run(f"DROP INDEX {PROVIDER_INDEX}")
        run('CREATE INDEX "message_provider_id" ON "channels_message" ("provider_message_id")')


def provider_index_backward(apps, schema_editor):
    run = schema_editor.execute
    if schema_editor.connection.vendor == "postgresql":
        run(f"ALTER INDEX message_provider_id RENAME TO {PROVIDER_INDEX}")
        run(
            f'CREATE INDEX {PROVIDER_LIKE} ON "channels_message" '
            '("provider_message_id" varchar_pattern_ops)'
        )
        run(
            f'CREATE INDEX {IDEMPOTENCY_LIKE} ON "channels_message" '
            '("idempotency_key" varchar_pattern_ops)'
        )
    else:
        run("DROP INDEX message_provider_id")
        run(f'CREATE INDEX "{PROVIDER_INDEX}" ON "channels_message" ("provider_message_id")')


class Migration(migrations.Migration):
    dependencies = [("channels", "0002_roles"), ("profiles", "0001_initial")]

    operations = [
        migrations.AlterField(
            model_name="message",
            name="profile",
            field=models.ForeignKey(
                db_index=False,
                null=True,
                on_delete=models.deletion.SET_NULL,
                related_name="messages",
                to="profiles.profile",
            ),
        ),
        migrations.AlterField(
            model_name="message",
            name="trigger_event",
            field=models.ForeignKey(
                blank=True,
                db_index=False,
                null=True,
                on_delete=models.deletion.SET_NULL,
                related_name="+",
                to="profiles.event",
            ),
        ),
        migrations.AddIndex(
            model_name="message",
            index=models.Index(
                condition=models.Q(("trigger_event__isnull", False)),
                fields=["trigger_event"],
                name="message_trigger_event",
            ),
        ),
        migrations.AlterField(
            model_name="message",
            name="switched_from",
            field=models.ForeignKey(
                blank=True,
                db_index=False,
                null=True,
                on_delete=models.deletion.SET_NULL,
                related_name="+",
                to="channels.message",
            ),
        ),
        migrations.AddIndex(
            model_name="message",
            index=models.Index(
                condition=models.Q(("switched_from__isnull", False)),
                fields=["switched_from"],
                name="message_switched_from",
            ),
        ),
        # The same indexes under the model's new spelling: the state changes, the database
        # only loses the two LIKE copies and renames the provider id's index.
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="message",
                    name="provider_message_id",
                    field=models.CharField(blank=True, max_length=100),
                ),
                migrations.AddIndex(
                    model_name="message",
                    index=models.Index(fields=["provider_message_id"], name="message_provider_id"),
                ),
                migrations.AlterField(
                    model_name="message",
                    name="idempotency_key",
                    field=models.CharField(
                        default=channels.models.outbox.new_idempotency_key,
                        max_length=255,
                    ),
                ),
                migrations.AddConstraint(
                    model_name="message",
                    constraint=models.UniqueConstraint(
                        fields=["idempotency_key"], name="channels_message_idempotency_key_key"
                    ),
                ),
            ],
            database_operations=[
                migrations.RunPython(provider_index_forward, provider_index_backward),
            ],
        ),
    ]
