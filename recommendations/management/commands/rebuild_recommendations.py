"""`manage.py rebuild_recommendations`: rebuild every user's recommendation, with progress."""

from django.core.management.base import BaseCommand
from tqdm import tqdm

from ingest.models import User
from recommendations import services


class Command(BaseCommand):
    help = "Rebuild every user's recommendation (signals normally keep them fresh)."

    def add_arguments(self, parser):
        parser.add_argument("--no-progress", action="store_true", help="No progress bar")

    def handle(self, *args, no_progress=False, **options):
        with tqdm(
            total=User.objects.count(),
            unit="user",
            desc="recommendations",
            disable=no_progress,
            file=self.stderr,
        ) as bar:
            result = services.rebuild_all(on_progress=bar.update)
        self.stdout.write(
            self.style.SUCCESS(
                f"Rebuilt {result.users} users' recommendations in {result.seconds:.2f} s "
                f"(engine: {result.engine})."
            )
        )
