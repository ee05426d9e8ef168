"""A consumer waiting out a database outage of any length stays in its group (docs/consumers.md).

Real consumer processes in one group, on the suite's database (SQLite
locked, or PostgreSQL refusing connections: `outages`), with
`max.poll.interval.ms` shortened so that an outage of a few seconds
outlasts it: a consumer that stopped polling would be dropped from the
group, its partitions handed to the other member, and the batch it held
stored late over newer versions.
"""

import re
import signal
import time

import pytest

from ingest.models import User
from tests.e2e.outages import database_outage
from tests.kafka_pipeline import wait_until
from tests.records import user

pytestmark = [pytest.mark.kafka, pytest.mark.django_db(transaction=True)]

COUNT = 30
PARTITIONS = {0, 1, 2}  # KAFKA_TOPIC_PARTITIONS
REBALANCE = re.compile(r"\b(assigned|revoked|lost) ([^\s,]+\[\d+\](?:, [^\s,]+\[\d+\])*)")


def outage_env(pipeline) -> dict:
    """A member silent for seconds is dropped.

    The busy timeout stays SQLite's default 30 s: the consumer itself bounds
    each database wait to a third of its poll interval, which these tests prove.
    """
    session = int(pipeline.env()["KAFKA_SESSION_TIMEOUT_MS"])
    return {"KAFKA_MAX_POLL_INTERVAL_MS": session + 1000}


def max_poll_seconds(pipeline) -> float:
    return outage_env(pipeline)["KAFKA_MAX_POLL_INTERVAL_MS"] / 1000


def versions(version: int) -> list[dict]:
    """Every user once; `version` in the birth year, so the last one sent is the one to keep."""
    return [user(pk, birth_year=1900 + version) for pk in range(1, COUNT + 1)]


def rebalances(consumer) -> list[tuple[str, set[int]]]:
    """Assignment changes from the log: ("assigned" or "revoked" or "lost", partitions)."""
    return [
        (verb, {int(p) for p in re.findall(r"\[(\d+)\]", listed)})
        for verb, listed in REBALANCE.findall(consumer.log)
    ]


def owned(consumer) -> set[int]:
    partitions: set[int] = set()
    for verb, changed in rebalances(consumer):
        partitions = partitions | changed if verb == "assigned" else partitions - changed
    return partitions


def consumed(consumer) -> int:
    return int(re.search(r"consumer closed after (\d+) messages", consumer.log).group(1))


def every_user_has_version(version: int) -> bool:
    return set(User.objects.values_list("birth_year", flat=True)) == {1900 + version} and (
        User.objects.count() == COUNT
    )


def start_owning_everything(pipeline):
    first = pipeline.start_consumer("users", env=outage_env(pipeline))
    wait_until(lambda: owned(first) == PARTITIONS, timeout=60, what="the first to join")
    return first


def join(pipeline, first):
    """A second consumer in the group, once the two share the partitions."""
    second = pipeline.start_consumer("users", env=outage_env(pipeline))
    wait_until(
        lambda: owned(second) and owned(first) | owned(second) == PARTITIONS,
        timeout=60,
        what="the partitions shared between the two",
    )
    return second


def join_while_holding(pipeline, first):
    """During an outage: the first holds the first versions when a second joins and holds too."""
    pipeline.produce("users", versions(1))
    wait_for_line("partitions paused", first, what="the first to hold its batch")
    second = join(pipeline, first)
    wait_for_line("partitions paused", second, what="the newcomer to hold its batch")
    return second


def wait_for_line(text: str, *consumers, what: str) -> None:
    wait_until(lambda: all(text in consumer.log for consumer in consumers), timeout=30, what=what)


def wait_for_the_last_versions(*consumers) -> None:
    wait_until(lambda: every_user_has_version(2), timeout=60, what="the last versions stored")
    wait_for_line("partitions resumed", *consumers, what="the held batches stored")


def stop(*consumers) -> None:
    for consumer in consumers:
        consumer.signal(signal.SIGTERM)
    for consumer in consumers:
        assert consumer.wait() == 0, consumer.log


def test_a_consumer_holding_a_batch_through_a_long_outage_keeps_its_partitions(pipeline):
    first = start_owning_everything(pipeline)
    second = join(pipeline, first)
    before = (rebalances(first), rebalances(second))

    with database_outage():
        pipeline.produce("users", versions(1))
        wait_for_line("partitions paused", first, second, what="both to hold their batch")
        pipeline.produce("users", versions(2))
        time.sleep(max_poll_seconds(pipeline) + 2)  # the outage outlasts max.poll.interval.ms
        assert User.objects.count() == 0

    wait_for_the_last_versions(first, second)
    after = (rebalances(first), rebalances(second))
    stop(first, second)

    assert after == before, "a rebalance during the outage"
    assert "maximum poll interval" not in first.log + second.log
    assert re.search(r"database unavailable: .+; holding \d+ records, partitions paused", first.log)
    assert "Traceback" not in first.log + second.log
    assert consumed(first) + consumed(second) == 2 * COUNT  # each message stored once
    assert every_user_has_version(2)


def test_records_of_partitions_revoked_during_an_outage_are_left_to_their_new_owner(pipeline):
    first = start_owning_everything(pipeline)

    with database_outage():
        second = join_while_holding(pipeline, first)
        pipeline.produce("users", versions(2))
        assert User.objects.count() == 0

    wait_for_the_last_versions(first, second)
    stop(first, second)

    assert re.search(r"dropped \d+ held records of .+, revoked during the wait", first.log)
    assert consumed(first) + consumed(second) == 2 * COUNT  # none stored by both
    assert every_user_has_version(2)


def test_partitions_assigned_during_an_outage_wait_paused_and_are_read_from_the_commit(pipeline):
    first = start_owning_everything(pipeline)

    with database_outage():
        second = join_while_holding(pipeline, first)
        stop(second)  # leaves during the outage: its share comes back to the first, paused
        wait_until(lambda: owned(first) == PARTITIONS, timeout=60, what="the share to come back")
        pipeline.produce("users", versions(2))
        assert User.objects.count() == 0

    wait_for_the_last_versions(first)
    stop(first)

    assert "stopped during an outage" in second.log
    assert consumed(second) == 0
    assert consumed(first) == 2 * COUNT  # what it dropped, it read again from the commit
    assert every_user_has_version(2)
