"""Helpers for tests through Kafka: topics of each test's own, a producer, consumer processes.

The `pipeline` fixture (tests/conftest.py) hands a test its `Pipeline`.

Consumers run as real processes (`manage.py consume_topic ...`) against the
test database and the session's broker, as they run in production. Each
test gets its own topic prefix and consumer group, so tests share one
broker without seeing each other's messages.
"""

import json
import os
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition
from django.db import connection

from betreco import processes
from betreco.processes import Process
from ingest.kafka.admin import ensure_topics
from ingest.kafka.topics import SCHEMA_VERSION, Header, dead_letter_topic, topic_name


def wait_until(predicate, *, timeout: float = 30.0, interval: float = 0.1, what: str = "it"):
    """Poll `predicate` until it returns something truthy; fail the test after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if result:
            return result
        if time.monotonic() > deadline:
            pytest.fail(f"waited {timeout}s for {what}")
        time.sleep(interval)


def database_url() -> str:
    """The test database as a DATABASE_URL, for consumer processes."""
    db = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{Path(db['NAME']).resolve()}"
    user = f"{db['USER']}:{db['PASSWORD']}@" if db.get("USER") else ""
    return f"postgres://{user}{db.get('HOST') or 'localhost'}:{db.get('PORT') or 5432}/{db['NAME']}"


@dataclass
class Delivery:
    topic: str
    partition: int
    offset: int
    key: bytes | None


@dataclass
class Pipeline:
    """One test's slice of the broker: prefixed topics, a group id, and helpers around them."""

    bootstrap: str
    prefix: str
    log_dir: Path
    processes: list[Process] = field(default_factory=list)

    @property
    def group(self) -> str:
        return f"{self.prefix}group"

    def topic(self, kind: str) -> str:
        return topic_name(kind)

    def env(self, **extra) -> dict:
        """A consumer's environment: this test's database, broker, topics and group; `extra`
        over them."""
        return processes.child_env(
            **{
                "DJANGO_SETTINGS_MODULE": "betreco.settings",
                "DATABASE_URL": database_url(),
                "KAFKA_BOOTSTRAP_SERVERS": self.bootstrap,
                "KAFKA_TOPIC_PREFIX": self.prefix,
                "KAFKA_CONSUMER_GROUP": self.group,
                # The embedded broker lets a group form in half the session timeout.
                "KAFKA_SESSION_TIMEOUT_MS": os.environ.get("KAFKA_SESSION_TIMEOUT_MS")
                or ("6000" if os.environ.get("KAFKA_BOOTSTRAP_SERVERS") else "3000"),
                **{name: str(value) for name, value in extra.items()},
            }
        )

    def produce(
        self, kind: str, records: list, *, seed: bool = False, one_per_batch: bool = False
    ) -> list[Delivery]:
        """Produce records (dicts, or raw bytes as they are) to `kind`'s topic; wait for acks.

        Dicts go in our format (JSON with schema headers), or with `seed`
        in the seed's `{"op": kind, "data": "<json>"}` envelope.
        `one_per_batch`: the embedded broker (Tansu) reports a partition's
        end offset as the last record batch's base offset + 1, so tests of
        lag send each message in a batch of its own.
        """
        config = {"bootstrap.servers": self.bootstrap, "linger.ms": 5}
        if one_per_batch:
            config |= {"linger.ms": 0, "batch.num.messages": 1}
        producer = Producer(config)
        deliveries: list[Delivery] = []

        def delivered(error, message):
            assert error is None, error
            deliveries.append(
                Delivery(message.topic(), message.partition(), message.offset(), message.key())
            )

        headers = self.headers(kind)
        for record in records:
            key = None
            value = self.encode(kind, record, seed=seed)
            if isinstance(record, dict):
                key = str(record.get("id") or record.get(f"{kind[:-1]}_id") or "").encode() or None
            producer.produce(
                self.topic(kind),
                key=key,
                value=value,
                headers=None if seed else headers,
                on_delivery=delivered,
            )
        assert producer.flush(30) == 0
        return sorted(deliveries, key=lambda d: (d.partition, d.offset))

    @staticmethod
    def headers(kind: str) -> list[tuple[str, bytes]]:
        """The schema headers our producer sends with a record of `kind`."""
        return [
            (Header.SCHEMA.value, kind.encode()),
            (Header.SCHEMA_VERSION.value, SCHEMA_VERSION.encode()),
        ]

    @staticmethod
    def encode(kind: str, record: dict | bytes, *, seed: bool = False) -> bytes:
        """A message value: bytes as they are, a dict as JSON (the seed's envelope with `seed`)."""
        if isinstance(record, bytes):
            return record
        if seed:
            return json.dumps({"op": kind, "data": json.dumps(record)}).encode()
        return json.dumps(record).encode()

    def start_consumer(self, *args: str, env: dict | None = None) -> Process:
        """Start `manage.py consume_topic *args` in the background."""
        name = f"consumer-{len(self.processes)}"
        consumer = processes.start_consumer(
            name, args, self.env(**(env or {})), self.log_dir / f"{name}.log"
        )
        self.processes.append(consumer)
        return consumer

    def consume(self, *args: str, idle: float = 1.5, env: dict | None = None) -> Process:
        """Run a consumer until it has had nothing to do for `idle` seconds; it must exit 0."""
        consumer = self.start_consumer(*args, "--until-idle", str(idle), env=env)
        assert consumer.wait() == 0, consumer.log
        return consumer

    def dead_letters(self, kind: str, expected: int, timeout: float = 20.0) -> list:
        """The first `expected` messages of `kind`'s dead-letter topic."""
        return self.messages(dead_letter_topic(self.topic(kind)), expected, timeout)

    def messages(self, topic: str, expected: int, timeout: float = 20.0) -> list:
        """The first `expected` messages of `topic` (fewer if no more come within `timeout`)."""
        reader = Consumer(
            {
                "bootstrap.servers": self.bootstrap,
                "group.id": f"reader-{uuid.uuid4().hex}",
                "enable.auto.commit": False,
                "auto.offset.reset": "earliest",
            }
        )
        try:
            partitions = reader.list_topics(topic, timeout=10).topics[topic].partitions
            reader.assign([TopicPartition(topic, p, 0) for p in partitions])
            found = []
            deadline = time.monotonic() + timeout
            while len(found) < expected and time.monotonic() < deadline:
                message = reader.poll(0.2)
                if message is not None and message.error() is None:
                    found.append(message)
            return found
        finally:
            reader.close()

    def stop_all(self) -> None:
        for consumer in self.processes:
            consumer.kill()


def header_map(message) -> dict[str, str]:
    return {key: value.decode() for key, value in message.headers() or []}


def pipeline_on(bootstrap: str, settings, log_dir: Path, *, partitions: int | None = None):
    """A `Pipeline` of topics and a group of a test's own on the broker at `bootstrap`;
    `settings` (pytest-django's fixture) point this process at them."""
    prefix = f"t{uuid.uuid4().hex[:10]}."
    settings.KAFKA_BOOTSTRAP_SERVERS = bootstrap
    settings.KAFKA_TOPIC_PREFIX = prefix
    settings.KAFKA_CONSUMER_GROUP = f"{prefix}group"
    if partitions is not None:
        settings.KAFKA_TOPIC_PARTITIONS = partitions
    ensure_topics(bootstrap)
    return Pipeline(bootstrap=bootstrap, prefix=prefix, log_dir=log_dir)
