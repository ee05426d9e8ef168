"""Helpers for the producer tests: topics of their own, and reading their messages back."""

import json
import uuid

from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from ingest.kafka.topics import RECORD_KINDS

PARTITIONS = 3


def unique_prefix(label: str) -> str:
    """A topic prefix no other test uses, so offsets and consumer groups start from nothing."""
    return f"{label}-{uuid.uuid4().hex[:8]}-"


def create_topics(bootstrap: str, prefix: str) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    futures = admin.create_topics(
        [NewTopic(f"{prefix}{kind}", PARTITIONS, 1) for kind in RECORD_KINDS]
    )
    for future in futures.values():
        future.result(timeout=15)


def end_offsets(bootstrap: str, topic: str) -> list[int]:
    """The next offset of each partition of `topic`."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"probe-{uuid.uuid4()}"})
    try:
        return [
            consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1]
            for p in range(PARTITIONS)
        ]
    finally:
        consumer.close()


def read_messages(bootstrap: str, receipts: list[dict]) -> list:
    """The messages at the (topic, partition, offset) of each receipt, in receipt order."""
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"reader-{uuid.uuid4()}",
            "enable.auto.commit": False,
        }
    )
    wanted = {(r["topic"], r["partition"], r["offset"]) for r in receipts}
    found = {}
    try:
        starts = {}
        for topic, partition, offset in wanted:
            starts[(topic, partition)] = min(offset, starts.get((topic, partition), offset))
        consumer.assign([TopicPartition(t, p, o) for (t, p), o in starts.items()])
        for _ in range(200):
            if len(found) == len(wanted):
                break
            message = consumer.poll(0.1)
            if message is None or message.error():
                continue
            place = (message.topic(), message.partition(), message.offset())
            if place in wanted:
                found[place] = message
    finally:
        consumer.close()
    return [found.get((r["topic"], r["partition"], r["offset"])) for r in receipts]


def decoded(message) -> dict:
    return json.loads(message.value())
