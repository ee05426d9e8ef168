"""`manage.py readiness`: exit 0 when this process reaches the database and the broker.

The checks of `GET /readyz` (`ingest.health`), for processes that serve no HTTP:
docker/compose.yaml runs it as the consumers' healthcheck.
"""

import json

from django.core.management.base import BaseCommand, CommandError

from ingest.health import readiness


class Command(BaseCommand):
    help = "Exit 0 when the database and the Kafka broker answer (the checks of /readyz), else 1."

    # A healthcheck runs every few seconds: skip the system checks, only connect.
    requires_system_checks = []

    def handle(self, *args, **options):
        result = readiness()
        self.stdout.write(json.dumps(result.as_dict()))
        if not result.ready:
            failing = ", ".join(
                f"{name} {answer}" for name, answer in result.checks.items() if answer != "ok"
            )
            raise CommandError(f"not ready: {failing}")
