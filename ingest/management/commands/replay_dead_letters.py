"""`manage.py replay_dead_letters [TOPIC ...] [--reason R] [--again] [--dry-run]`.

A thin shell over `ingest.kafka.replay`: publishes dead letters back to
their source topic, once each; the last line gives the number published.
Dead letters of replays that failed again are left out unless `--again`
(docs/operations.md).
"""

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from ingest.kafka import replay
from ingest.kafka.topics import RECORD_KINDS
from ingest.management.commands.consume_topic import resolve_topics


class Command(BaseCommand):
    help = "Publish dead letters back to their source topic, once each (docs/operations.md)."

    def add_arguments(self, parser):
        parser.add_argument(
            "topics",
            nargs="*",
            help=f"source topics: kinds ({', '.join(RECORD_KINDS)}) or topic names; default: all",
        )
        parser.add_argument(
            "--reason", help="only dead letters whose reason holds this text (any case)"
        )
        parser.add_argument(
            "--again",
            action="store_true",
            help="also replay dead letters of replays that failed again (a poison record loops)",
        )
        parser.add_argument(
            "--dry-run", action="store_true", help="list what would be replayed; publish nothing"
        )
        parser.add_argument(
            "--timeout",
            type=float,
            default=replay.REPLAY_TIMEOUT,
            help="seconds the broker has to acknowledge them",
        )

    def handle(self, *args, **options):
        topics = resolve_topics(options["topics"]) if options["topics"] else None
        again = options["again"]
        letters = replay.select(topics=topics, reason=options["reason"], again=again)
        dry_run = options["dry_run"]
        verb = "would replay" if dry_run else "replayed"
        try:
            count = replay.replay(
                letters,
                dry_run=dry_run,
                again=again,
                timeout=options["timeout"],
                report=lambda letter: self.stdout.write(f"{verb} {replay.describe(letter)}"),
            )
        except replay.ReplayFailed as error:
            self.stdout.write(f"Replayed {replay.counted(error.replayed)}.")
            raise CommandError(f"{error} (broker {settings.KAFKA_BOOTSTRAP_SERVERS})") from error
        self.stdout.write(f"{'Would replay' if dry_run else 'Replayed'} {replay.counted(count)}.")
