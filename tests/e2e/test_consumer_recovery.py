"""Consumers killed, stopped, or finding the database down lose nothing (docs/consumers.md)."""

import json
import re
import signal

import pytest
from django.core.management import call_command

from betreco.embedded_broker import EmbeddedBroker
from ingest.models import User
from tests.e2e.outages import database_outage
from tests.kafka_pipeline import pipeline_on, wait_until
from tests.records import user

pytestmark = [pytest.mark.kafka, pytest.mark.django_db(transaction=True)]

TOTAL = 3000
BATCH = "50"


def users(count: int) -> list[dict]:
    return [user(pk, birth_year=1950 + pk % 50) for pk in range(1, count + 1)]


def committed_offsets(capsys, topic: str) -> int:
    call_command("kafka_status", "--json")
    rows = json.loads(capsys.readouterr().out)["topics"]
    return next(row["committed"] for row in rows if row["topic"] == topic)


def assert_every_user_stored_once_as_sent():
    stored = dict(User.objects.values_list("id", "birth_year"))
    assert stored == {record["id"]: record["birth_year"] for record in users(TOTAL)}


def test_a_consumer_killed_mid_stream_loses_nothing_and_stores_nothing_twice(pipeline):
    pipeline.produce("users", users(TOTAL))
    victim = pipeline.start_consumer("users", "--batch-size", BATCH)
    wait_until(lambda: User.objects.count() >= 300, interval=0.02, what="some users stored")

    victim.signal(signal.SIGKILL)
    victim.wait()
    stored_before_restart = User.objects.count()
    pipeline.consume("users", "--batch-size", BATCH)

    assert stored_before_restart < TOTAL, "the consumer finished before it could be killed"
    assert_every_user_stored_once_as_sent()


def test_sigterm_finishes_the_batch_commits_it_and_exits_0(pipeline, capsys):
    pipeline.produce("users", users(TOTAL))
    consumer = pipeline.start_consumer("users", "--batch-size", BATCH)
    wait_until(lambda: User.objects.count() >= 300, interval=0.02, what="some users stored")

    consumer.signal(signal.SIGTERM)

    assert consumer.wait(timeout=20) == 0, consumer.log
    assert "consumer closed" in consumer.log
    stored = User.objects.count()
    # Exactly what was stored is committed: no message is lost, none stored twice.
    assert committed_offsets(capsys, pipeline.topic("users")) == stored
    rest = pipeline.consume("users", "--batch-size", BATCH)
    assert f"consumed {TOTAL - stored} messages" in rest.log
    assert_every_user_stored_once_as_sent()


def test_sigterm_exits_0_within_the_grace_period_when_the_broker_stops_answering(
    transactional_db, settings, tmp_path, capsys
):
    """A broker that holds every request (frozen, or holding a join through a rebalance)
    cannot keep a stopping consumer past a Kubernetes grace period (30 s); what it stored
    is stored, and the next consumer stores the rest."""
    with EmbeddedBroker() as broker:
        line = pipeline_on(broker.bootstrap_servers, settings, tmp_path)
        line.produce("users", users(100))
        consumer = line.start_consumer("users")
        wait_until(lambda: User.objects.count() == 100, timeout=60, what="the users stored")
        # Committed too: a commit in flight to a frozen broker waits out socket.timeout.ms.
        wait_until(lambda: committed_offsets(capsys, line.topic("users")) == 100, what="the commit")
        broker.process.send_signal(signal.SIGSTOP)
        try:
            consumer.signal(signal.SIGTERM)
            code = consumer.wait(timeout=30)
        finally:
            broker.process.send_signal(signal.SIGCONT)
        assert code == 0, consumer.log
        line.produce("users", users(150)[100:])
        line.consume("users")
        line.stop_all()
    assert User.objects.count() == 150


def test_a_database_unavailable_for_a_while_is_waited_out_and_nothing_is_lost(pipeline):
    records = users(200)
    pipeline.produce("users", records[:100])
    consumer = pipeline.start_consumer("users", env={"SQLITE_BUSY_TIMEOUT": 1})
    wait_until(lambda: User.objects.count() == 100, timeout=60, what="the first users stored")

    with database_outage():
        pipeline.produce("users", records[100:])
        wait_until(
            lambda: re.search(r"failed \(attempt 2\)", consumer.log),
            timeout=60,
            what="the consumer to retry",
        )
        assert User.objects.count() == 100
        assert consumer.alive()  # waiting, not crashed

    wait_until(lambda: User.objects.count() == 200, timeout=60, what="every user stored")
    consumer.signal(signal.SIGTERM)
    assert consumer.wait() == 0, consumer.log
    assert "partitions paused" in consumer.log
    assert "succeeded after" in consumer.log
    assert "partitions resumed" in consumer.log
    stored = dict(User.objects.values_list("id", "birth_year"))
    assert stored == {record["id"]: record["birth_year"] for record in records}
