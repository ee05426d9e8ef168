"""`manage.py rebuild_recommendations`: rebuild every user's recommendation, with progress."""

from django.core.management.base import BaseCommand
from tqdm import tqdm

from ingest.models import User
from recommendations import rebuild


class Command(BaseCommand):
    help = "Rebuild every user's recommendation (the outbox normally keeps them fresh)."

    def add_arguments(self, parser):
        parser.add_argument("--no-progress", action="store_true", help="No progress bar")
        parser.add_argument(
            "--background",
            action="store_true",
            help="Only request it: a consumer (or the next drain) runs it",
        )

    def handle(self, *args, no_progress=False, background=False, **options):
        if background:
            requested = rebuild.rebuild_request()
            self.stdout.write(
                f"Requested rebuild #{requested.pk} of {requested.users_total} users."
            )
            return
        with tqdm(
            total=User.objects.count(),
            unit="user",
            desc="recommendations",
            disable=no_progress,
            file=self.stderr,
        ) as bar:
            result = rebuild.rebuild_all(on_progress=bar.update)
        self.stdout.write(
            self.style.SUCCESS(
                f"Rebuilt {result.users} users' recommendations in {result.seconds:.2f} s "
                f"(engine: {result.engine})."
            )
        )
