from django.db import migrations

from profiles.roles import sync_roles

TOPICS = [
    ("offers", "Offers and sales", "Discounts, sales and limited offers.", "marketing", 10),
    ("news", "News and new arrivals", "What is new in the shop.", "marketing", 20),
    ("orders", "Order updates", "Receipts, shipping and delivery.", "transactional", 30),
]


def create_topics(apps, schema_editor):
    Topic = apps.get_model("compliance", "Topic")
    for key, name, description, category, order in TOPICS:
        Topic.objects.get_or_create(
            key=key,
            defaults={"name": name, "description": description, "category": category,
                      "sort_order": order},
        )


class Migration(migrations.Migration):
    dependencies = [("compliance", "0001_initial"), ("profiles", "0002_roles")]

    operations = [
        migrations.RunPython(sync_roles, migrations.RunPython.noop),
        migrations.RunPython(create_topics, migrations.RunPython.noop),
    ]
