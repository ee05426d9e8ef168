"""`manage.py kafka_status`: per-topic end offset, committed offset and lag of a consumer group,
with parked coupons and dead-lettered records (docs/operations.md).
"""

import json

from confluent_kafka import Consumer, KafkaException
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db.models import Count

from ingest.kafka.client_config import client_config
from ingest.kafka.lag import lag_by_topic, topic_partitions
from ingest.kafka.logs import with_logging
from ingest.kafka.topics import RECORD_KINDS, topic_name
from ingest.models import DeadLetter, ParkedCoupon

COLUMNS = ("topic", "end", "committed", "lag", "dead_lettered")


def topic_rows(group_id: str, bootstrap_servers: str, timeout: float) -> list[dict]:
    """One row per record topic: offsets and lag of `group_id`, dead letters recorded."""
    topics = [topic_name(kind) for kind in RECORD_KINDS]
    dead = dict(
        DeadLetter.objects.filter(topic__in=topics)
        .values_list("topic")
        .annotate(count=Count("id"))
        .values_list("topic", "count")
    )
    consumer = Consumer(
        with_logging(
            client_config(
                {"group.id": group_id, "enable.auto.commit": False},
                bootstrap_servers=bootstrap_servers,
            )
        )
    )
    try:
        lags = lag_by_topic(consumer, topic_partitions(consumer, topics, timeout), timeout)
    finally:
        consumer.close()
    return [
        {
            "topic": topic,
            "end": lags[topic].end if topic in lags else 0,
            "committed": lags[topic].committed if topic in lags else 0,
            "lag": lags[topic].lag if topic in lags else 0,
            "dead_lettered": dead.get(topic, 0),
        }
        for topic in topics
    ]


class Command(BaseCommand):
    help = "Per-topic lag of a consumer group, parked coupons and dead-lettered records."

    def add_arguments(self, parser):
        parser.add_argument("--group", help="consumer group id (default: KAFKA_CONSUMER_GROUP)")
        parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
        parser.add_argument("--timeout", type=float, default=10.0, help="broker timeout, seconds")

    def handle(self, *args, **options):
        group_id = options["group"] or settings.KAFKA_CONSUMER_GROUP
        try:
            rows = topic_rows(group_id, settings.KAFKA_BOOTSTRAP_SERVERS, options["timeout"])
        except KafkaException as error:
            raise CommandError(
                f"the broker at {settings.KAFKA_BOOTSTRAP_SERVERS} did not answer: {error}"
            ) from error
        parked = ParkedCoupon.objects.count()
        if options["json"]:
            report = {"group": group_id, "topics": rows, "parked_coupons": parked}
            self.stdout.write(json.dumps(report, indent=2))
            return
        self.stdout.write(f"consumer group {group_id!r} at {settings.KAFKA_BOOTSTRAP_SERVERS}")
        widths = [max(len(c), *(len(str(r[c])) for r in rows)) for c in COLUMNS]
        self.stdout.write("  ".join(c.ljust(w) for c, w in zip(COLUMNS, widths, strict=True)))
        for row in rows:
            cells = [str(row[c]) for c in COLUMNS]
            self.stdout.write(
                "  ".join(
                    cell.ljust(w) if i == 0 else cell.rjust(w)
                    for i, (cell, w) in enumerate(zip(cells, widths, strict=True))
                )
            )
        self.stdout.write(f"parked coupons: {parked}")
