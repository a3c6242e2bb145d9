from django.core.management.base import BaseCommand

from channels.worker import freeze_startup_heap
from journeys import engine


class Command(BaseCommand):
    help = "Run one journeys tick in the foreground: every due enrollment, in batches."

    def add_arguments(self, parser):
        parser.add_argument("--batch-size", type=int, default=engine.BATCH_SIZE)
        parser.add_argument("--time-budget", type=float, default=50.0, help="Seconds.")

    def handle(self, *args, batch_size, time_budget, **options):
        # As a django-q2 worker does at its start: a long tick's full collections would walk
        # the whole start-up heap (~10 us of CPU an enrollment in bench/tick.py; 0.5 frozen).
        freeze_startup_heap()
        report = engine.tick(batch_size=batch_size, time_budget=time_budget)
        outcomes = ", ".join(f"{k} {v}" for k, v in sorted(report.outcomes.items())) or "none"
        self.stdout.write(
            f"{report.enrollments} enrollments, {report.steps} steps in {report.batches} "
            f"batches ({outcomes}); {report.handed} messages handed to dispatch"
        )
