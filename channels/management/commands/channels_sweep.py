from django.core.management.base import BaseCommand

from channels.services import messages_mark_unknown, messages_release_due


class Command(BaseCommand):
    help = "Mark messages stuck in sending as unknown, then dispatch waiting messages now due."

    def handle(self, *args, **options):
        unknown = messages_mark_unknown()
        released = messages_release_due()
        self.stdout.write(f"{unknown} marked unknown, {released} released")
