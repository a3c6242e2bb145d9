import random

from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils import timezone

from demo.data import person, shopping_history
from profiles.models import Event, EventSource, Profile


class Command(BaseCommand):
    help = "Seed demo profiles with events (idempotent: skips when demo data exists)."

    def add_arguments(self, parser):
        parser.add_argument("--profiles", type=int, default=300)
        parser.add_argument("--reset", action="store_true", help="Delete demo data first")

    def handle(self, *args, profiles: int, reset: bool, **options):
        demo = Profile.objects.filter(external_id__startswith="demo-")
        if reset:
            demo.delete()
        elif demo.exists():
            self.stdout.write(f"Demo data present ({demo.count()} profiles); use --reset.")
            return
        with transaction.atomic():
            created = self._seed(profiles)
        self.stdout.write(f"Seeded {created} demo profiles.")

    def _seed(self, count: int) -> int:
        rng, now = random.Random(42), timezone.now()
        people = Profile.objects.bulk_create(Profile(**person(i, rng)) for i in range(count))
        events = [
            Event(
                profile=profile,
                name=item["name"],
                properties=item["properties"],
                occurred_at=item["at"],
                value=item.get("value"),
                source=EventSource.DEMO,
            )
            for profile in Profile.objects.filter(external_id__startswith="demo-")
            for item in shopping_history(rng, now)
        ]
        Event.objects.bulk_create(events, batch_size=500)
        return len(people)
