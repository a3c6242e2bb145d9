"""compliance_subscription.last_event_id: no foreign-key constraint, no index.

The ledger is append-only and a subscription is written in the same statement as the event
it points at, so the constraint only cost work: a deferred trigger and an index probe of the
ledger for every subscription written (at commit), and the index one more insert. An import
writes one of each per consent it records. On PostgreSQL the operation drops the constraint
and the index (no scan of either table).
"""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('compliance', '0006_ledger_indexes_where_set'),
    ]

    operations = [
        migrations.AlterField(
            model_name='subscription',
            name='last_event',
            field=models.ForeignKey(db_constraint=False, db_index=False, on_delete=django.db.models.deletion.PROTECT, related_name='+', to='compliance.consentevent'),
        ),
    ]
