"""`manage.py consume_topic users [events coupons ...]`: run the consumer loop (docs/consumers.md).

A thin shell over `ingest.kafka.consumer.ConsumerLoop`: it names the topics,
installs SIGTERM/SIGINT handlers (finish the batch, commit, leave the group,
exit 0), serves `/metrics` when given a port, and hands over. With no topic
given it reads the seed's `TOPICS`.
"""

import faulthandler
import logging
import os
import signal
import sys

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from betreco.metrics import serve
from ingest.kafka.consumer import ConsumerLoop, ConsumerOptions
from ingest.kafka.topics import RECORD_KINDS, kind_of_topic, topic_name


def resolve_topics(names: list[str]) -> list[str]:
    """Topic names for plain kinds ('users') or full names ('prod.users'), deduplicated."""
    topics = []
    for name in names:
        try:
            topic = topic_name(name) if name in RECORD_KINDS else name
            kind_of_topic(topic)
        except ValueError as error:
            raise CommandError(str(error)) from error
        if topic not in topics:
            topics.append(topic)
    return topics


class Command(BaseCommand):
    help = "Consume record topics into the database: batches in one transaction, then commit."

    def add_arguments(self, parser):
        parser.add_argument(
            "topics",
            nargs="*",
            help=f"kinds ({', '.join(RECORD_KINDS)}) or topic names; default: $TOPICS",
        )
        parser.add_argument("--group", help="consumer group id (default: KAFKA_CONSUMER_GROUP)")
        parser.add_argument("--batch-size", type=int, help="messages per batch and transaction")
        parser.add_argument("--max-messages", type=int, help="stop after this many messages")
        parser.add_argument(
            "--until-idle",
            type=float,
            metavar="SECONDS",
            help="stop once no message arrived for this long",
        )
        parser.add_argument(
            "--metrics-port",
            type=int,
            metavar="PORT",
            help="serve Prometheus metrics on http://HOST:PORT/metrics "
            "(default: CONSUMER_METRICS_PORT; 0 or unset: none)",
        )
        parser.add_argument(
            "--metrics-host",
            metavar="HOST",
            help="address the metrics server listens on (default: CONSUMER_METRICS_HOST, "
            "127.0.0.1)",
        )

    def handle(self, *args, **options):
        names = options["topics"] or settings.TOPICS
        if not names:
            raise CommandError("name the topics to consume (or set TOPICS), e.g. users events")
        consumer_options = ConsumerOptions(topics=resolve_topics(names))
        if options["group"]:
            consumer_options.group_id = options["group"]
        if options["batch_size"]:
            consumer_options.batch_size = options["batch_size"]
        consumer_options.max_messages = options["max_messages"]
        consumer_options.until_idle = options["until_idle"]
        loop = ConsumerLoop(consumer_options)
        port = options["metrics_port"]
        if port is None:
            port = settings.CONSUMER_METRICS_PORT
        if port:
            host = options["metrics_host"] or settings.CONSUMER_METRICS_HOST
            try:
                serve(port, host)
            except OSError as error:
                raise CommandError(f"cannot serve metrics on {host}:{port}: {error}") from error
        signal.signal(signal.SIGTERM, loop.stop)
        signal.signal(signal.SIGINT, loop.stop)
        # `kill -USR1 PID` prints every thread's stack: where a consumer that will not stop waits.
        faulthandler.register(signal.SIGUSR1, all_threads=True)
        consumed = loop.run()
        self.stdout.write(f"consumed {consumed} messages from {', '.join(loop.options.topics)}")
        if not loop.left_group:
            # A thread is still inside librdkafka's close: exit now, not in interpreter
            # shutdown beside it (everything stored is safe; see ConsumerLoop._leave).
            logging.shutdown()
            self.stdout.flush()
            sys.stderr.flush()
            os._exit(0)
