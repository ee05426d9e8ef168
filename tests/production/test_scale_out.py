"""Scaling out (docs/consumers.md): consumers of one group split a topic's partitions (PostgreSQL).

Three `consume_topic users` processes join one consumer group; once each
holds one of the topic's three partitions, thousands of users are
produced. Every user must be stored exactly once, by all three processes
together, each having stored its share.
"""

import json
import os
import re
import time
import uuid
from urllib.parse import quote

import pytest
from confluent_kafka import Producer
from django.conf import settings
from django.db import connection
from django.test import override_settings

from betreco import processes
from ingest.kafka.admin import ensure_topics
from ingest.kafka.topics import SCHEMA_VERSION, Header
from ingest.models import User

ON_POSTGRESQL = settings.DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql"
pytestmark = [
    pytest.mark.skipif(
        not ON_POSTGRESQL, reason="runs on PostgreSQL: set TEST_DATABASE_URL (see make test)"
    ),
    pytest.mark.kafka,
    pytest.mark.django_db(transaction=True),
]

CONSUMERS = 3
PARTITIONS = 3
USERS = 3000
DEADLINE = 120.0


def database_url() -> str:
    """The URL of the test database this test runs on, for the consumer processes."""
    db = connection.settings_dict
    credentials = quote(db["USER"] or "")
    if db["PASSWORD"]:
        credentials += ":" + quote(db["PASSWORD"])
    return f"postgres://{credentials}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


def held_partitions(log: str) -> set[int]:
    """The partitions a consumer holds now, from its 'assigned'/'revoked' log lines."""
    held: set[int] = set()
    for action, partitions in re.findall(r"\b(assigned|revoked) (.*)$", log, re.M):
        numbers = {int(n) for n in re.findall(r"\[(\d+)\]", partitions)}
        held = held | numbers if action == "assigned" else held - numbers
    return held


def wait_until(condition, what: str, details):
    end = time.monotonic() + DEADLINE
    while time.monotonic() < end:
        if condition():
            return
        time.sleep(0.25)
    raise AssertionError(f"timed out waiting for {what}\n{details()}")


@pytest.fixture
def topic_env(kafka_bootstrap):
    prefix = f"scale-{uuid.uuid4().hex[:8]}-"
    with override_settings(KAFKA_TOPIC_PREFIX=prefix):
        ensure_topics(kafka_bootstrap, ["users"], partitions=PARTITIONS)
    return {
        "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
        "KAFKA_TOPIC_PREFIX": prefix,
        "KAFKA_CONSUMER_GROUP": f"scale-{uuid.uuid4().hex[:8]}",
    }


def produce_users(bootstrap: str, topic: str, ids: list[int]) -> None:
    producer = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True})
    headers = {Header.SCHEMA: "users", Header.SCHEMA_VERSION: SCHEMA_VERSION}
    for user_id in ids:
        record = {"id": user_id, "birth_year": 1985, "country": "GR", "currency": "EUR"}
        producer.produce(topic, json.dumps(record | {"gender": "X"}), str(user_id), headers=headers)
        producer.poll(0)
    assert producer.flush(30) == 0


def test_three_consumers_in_one_group_share_the_partitions_and_store_each_record_once(
    topic_env, tmp_path
):
    env = {
        **os.environ,
        **topic_env,
        "DJANGO_SETTINGS_MODULE": "betreco.settings",
        "DATABASE_URL": database_url(),
        "CONSUMER_BATCH_SIZE": "200",
        "LOG_FORMAT": "plain",
    }
    logs = [tmp_path / f"consumer-{n}.log" for n in range(CONSUMERS)]
    consumers = [processes.start_consumer(log.stem, ["users"], env, log) for log in logs]
    try:

        def texts() -> list[str]:
            return [log.read_text() for log in logs]

        wait_until(
            lambda: (
                sorted(min(held_partitions(t), default=-1) for t in texts()) == [0, 1, 2]
                and all(len(held_partitions(t)) == 1 for t in texts())
            ),
            "each consumer to hold one partition",
            lambda: "\n".join(texts()),
        )
        ids = [8_000_000_000 + n for n in range(USERS)]
        produce_users(
            topic_env["KAFKA_BOOTSTRAP_SERVERS"], f"{env['KAFKA_TOPIC_PREFIX']}users", ids
        )
        wait_until(
            lambda: User.objects.filter(id__in=ids).count() == USERS,
            f"{USERS} users stored",
            lambda: "\n".join(t[-1500:] for t in texts()),
        )
    finally:
        codes = processes.stop_all(consumers, grace=60)
    assert codes == [0] * CONSUMERS, "\n".join(log.read_text()[-1500:] for log in logs)

    handled = [
        int(re.search(r"consumer closed after (\d+) messages", log.read_text())[1]) for log in logs
    ]
    assert all(count > 0 for count in handled), handled
    assert sum(handled) == USERS  # no message consumed twice, none skipped
    assert User.objects.filter(id__in=ids).count() == USERS
