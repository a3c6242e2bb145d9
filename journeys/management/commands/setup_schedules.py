from django.core.management.base import BaseCommand
from django_q.models import Schedule

# name -> (function, minutes between runs)
SCHEDULES = {
    "journeys-tick": ("journeys.tasks.tick", 1),
    "imports-resume": ("profiles.imports.jobs.import_jobs_resume_stale", 1),
}


class Command(BaseCommand):
    help = "Create or update the django-q2 schedules (idempotent: run on every deploy)."

    def handle(self, *args, **options):
        from channels.tasks import ensure_schedules

        ensure_schedules()
        self.stdout.write("updated channels.sweep: channels.tasks.sweep every 1 min")
        for name, (func, minutes) in SCHEDULES.items():
            _, created = Schedule.objects.update_or_create(
                name=name,
                defaults={
                    "func": func,
                    "schedule_type": Schedule.MINUTES,
                    "minutes": minutes,
                    "repeats": -1,
                },  # fmt: skip
            )
            self.stdout.write(f"{'created' if created else 'updated'} {name}: {func} every "
                              f"{minutes} min")  # fmt: skip
