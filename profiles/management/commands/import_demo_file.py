"""import_demo_file PATH --rows N: a realistic Shopify customers export to try the import on."""

from django.core.management.base import BaseCommand

from profiles.imports.demo import write_demo_file


class Command(BaseCommand):
    help = "Write a generated Shopify customers export (duplicates and bad rows included)."

    def add_arguments(self, parser):
        parser.add_argument("path")
        parser.add_argument("--rows", type=int, default=100_000)
        parser.add_argument("--seed", type=int, default=2025)

    def handle(self, *args, path, rows, seed, **options):
        write_demo_file(path, rows=rows, seed=seed)
        self.stdout.write(f"wrote {rows:,} customers to {path}; import it in the admin")
