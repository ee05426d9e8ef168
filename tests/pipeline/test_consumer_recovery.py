"""Consumers that are killed, stopped, or find the database unavailable lose nothing (SPEC §6)."""

import json
import re
import signal
import sqlite3

import pytest
from django.core.management import call_command
from django.db import connection

from ingest.models import User
from tests.kafka_pipeline import user, wait_until

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


def test_a_database_unavailable_for_a_while_is_waited_out_and_nothing_is_lost(pipeline):
    if connection.vendor != "sqlite":
        pytest.skip("locks the SQLite file; PostgreSQL has its own outage test below")
    pipeline.produce("users", users(200))
    lock = sqlite3.connect(connection.settings_dict["NAME"], isolation_level=None)
    lock.execute("BEGIN EXCLUSIVE")
    try:
        consumer = pipeline.start_consumer("users", env={"SQLITE_BUSY_TIMEOUT": 1})
        wait_until(
            lambda: re.search(r"failed \(attempt 2\)", consumer.log),
            timeout=30,
            what="the consumer to retry",
        )
        assert User.objects.count() == 0
    finally:
        lock.execute("ROLLBACK")
        lock.close()

    wait_until(lambda: User.objects.count() == 200, timeout=30, what="every user stored")
    consumer.signal(signal.SIGTERM)
    assert consumer.wait() == 0
    assert "database is locked" in consumer.log
    assert "succeeded after" in consumer.log


def _on_server(sql: str) -> None:
    """Run `sql` from the server's maintenance database (a database cannot lock itself out)."""
    import psycopg

    settings = connection.settings_dict
    with psycopg.connect(
        host=settings["HOST"] or None,
        port=settings["PORT"] or None,
        user=settings["USER"] or None,
        password=settings["PASSWORD"] or None,
        dbname="postgres",
        autocommit=True,
    ) as server:
        server.execute(sql)


def _allow_connections(database: str, allowed: bool) -> None:
    _on_server(f'ALTER DATABASE "{database}" ALLOW_CONNECTIONS {str(allowed).lower()}')


def test_a_postgresql_outage_mid_stream_is_waited_out_and_nothing_is_lost(pipeline):
    if connection.vendor != "postgresql":
        pytest.skip("takes a PostgreSQL database offline; SQLite is covered by the lock test")
    database = connection.settings_dict["NAME"]
    records = users(200)
    pipeline.produce("users", records[:100])
    consumer = pipeline.start_consumer("users")
    wait_until(lambda: User.objects.count() == 100, timeout=60, what="the first users stored")

    # The server goes away for the consumer: its connection is cut and new ones are refused.
    _allow_connections(database, False)
    try:
        own = connection.cursor().connection.info.backend_pid
        _on_server(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            f"WHERE datname = '{database}' AND pid <> {own}"
        )
        pipeline.produce("users", records[100:])
        wait_until(
            lambda: re.search(r"failed \(attempt 2\)", consumer.log),
            timeout=60,
            what="the consumer to retry",
        )
        assert User.objects.count() == 100
        assert consumer.process.poll() is None  # waiting, not crashed
    finally:
        _allow_connections(database, True)

    wait_until(lambda: User.objects.count() == 200, timeout=60, what="every user stored")
    consumer.signal(signal.SIGTERM)
    assert consumer.wait() == 0, consumer.log
    assert "succeeded after" in consumer.log
    stored = dict(User.objects.values_list("id", "birth_year"))
    assert stored == {record["id"]: record["birth_year"] for record in records}
