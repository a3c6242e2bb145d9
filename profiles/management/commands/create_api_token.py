from django.core.management.base import BaseCommand

from profiles.models import ApiToken


class Command(BaseCommand):
    help = "Create an API token for /api/v1/; the token is printed once, alone on the last line."

    def add_arguments(self, parser):
        parser.add_argument("name", help="What the token is for, e.g. 'shop backend'")

    def handle(self, *args, name: str, **options):
        token, raw = ApiToken.generate(name=name)
        self.stderr.write(f"Created API token “{token.name}” ({token.token_prefix}…).")
        self.stderr.write("Store it now: only its hash is kept.")
        self.stdout.write(raw)
