"""A consumer's status figures: counted in memory, written every few seconds (docs/operations.md)"""

import logging
import threading
from datetime import UTC, datetime

import pytest
from django.db import OperationalError
from prometheus_client import REGISTRY, generate_latest

from ingest.kafka import reporting
from ingest.kafka.batch import Batch
from ingest.kafka.dead_letter import Failure
from ingest.kafka.lag import PartitionLag
from ingest.kafka.reporting import BUCKET_SECONDS, Figures, Reporter, bucket_of, prune
from ingest.models import ConsumerStat
from ingest.models import PartitionLag as PartitionLagRow
from tests.ingest.kafka.fakes import Clock, FakeConsumer, FakeMessage, messages

NOW = 1_800_000_003.0  # 3 s into a bucket


def stats() -> dict:
    return {
        (row.topic, row.bucket): (row.stored, row.dead_lettered)
        for row in ConsumerStat.objects.all()
    }


def test_a_bucket_starts_at_a_multiple_of_its_length():
    assert bucket_of(NOW) == NOW - 3
    assert bucket_of(NOW - 3) == NOW - 3
    assert bucket_of(NOW + BUCKET_SECONDS) == NOW - 3 + BUCKET_SECONDS


@pytest.mark.django_db
def test_counts_are_written_per_topic_and_bucket_on_report():
    clock = Clock(NOW)
    reporter = Reporter("host:1", clock=clock)
    reporter.count("users", stored=5)
    reporter.count("users", stored=2, dead_lettered=1)
    clock.now += BUCKET_SECONDS
    reporter.count("users", stored=7)
    reporter.count("events", stored=1)
    assert not ConsumerStat.objects.exists()

    assert reporter.report(lag=None)

    first = bucket_of(NOW)
    assert stats() == {
        ("users", first): (7, 1),
        ("users", first + BUCKET_SECONDS): (7, 0),
        ("events", first + BUCKET_SECONDS): (1, 0),
    }


@pytest.mark.django_db
def test_reports_add_to_the_rows_other_consumers_and_earlier_reports_wrote():
    one, two = Reporter("host:1", clock=Clock(NOW)), Reporter("host:2", clock=Clock(NOW))
    one.count("coupons", stored=3)
    one.report(lag=None)
    one.count("coupons", stored=4)
    one.report(lag=None)
    two.count("coupons", stored=10, dead_lettered=2)
    two.report(lag=None)

    assert stats() == {("coupons", bucket_of(NOW)): (17, 2)}


@pytest.mark.django_db
def test_a_report_with_nothing_counted_writes_nothing():
    assert Reporter("host:1", clock=Clock(NOW)).report(lag=None)
    assert not ConsumerStat.objects.exists()


@pytest.mark.django_db
def test_each_partitions_lag_is_replaced_by_the_latest_report():
    clock = Clock(NOW)
    reporter = Reporter("host:1", clock=clock)
    reporter.report([PartitionLag("users", 0, end=10, committed=4), PartitionLag("users", 1, 5, 5)])
    clock.now += 30
    Reporter("host:2", clock=clock).report([PartitionLag("users", 0, end=12, committed=12)])

    rows = {row.partition: row for row in PartitionLagRow.objects.all()}
    assert (rows[0].lag, rows[0].end_offset, rows[0].consumer) == (0, 12, "host:2")
    assert rows[0].reported_at == datetime.fromtimestamp(NOW + 30, tz=UTC)
    assert (rows[1].lag, rows[1].consumer) == (0, "host:1")


@pytest.mark.django_db
def test_an_unknown_lag_keeps_the_last_one_reported():
    reporter = Reporter("host:1", clock=Clock(NOW))
    reporter.report([PartitionLag("events", 2, end=9, committed=1)])
    reporter.report(lag=None)
    assert PartitionLagRow.objects.get().lag == 8


@pytest.mark.django_db
def test_maybe_report_writes_at_most_once_per_interval_and_asks_the_lag_only_then():
    reporter = Reporter("host:1", interval=3600, clock=Clock(NOW))
    asked = []

    def lag():
        asked.append(1)
        return []

    reporter.count("users", stored=1)
    assert reporter.maybe_report(lag)
    reporter.count("users", stored=1)
    assert not reporter.maybe_report(lag)
    assert len(asked) == 1
    assert stats() == {("users", bucket_of(NOW)): (1, 0)}


@pytest.mark.django_db
def test_a_database_error_never_fails_the_loop_and_the_counts_wait_for_the_next_report(
    monkeypatch, caplog
):
    reporter = Reporter("host:1", clock=Clock(NOW))
    reporter.count("users", stored=4)
    real = reporting.counts_add

    def down(_counts):
        raise OperationalError("the database is down")

    monkeypatch.setattr(reporting, "counts_add", down)
    with caplog.at_level(logging.WARNING):
        assert not reporter.report(lag=None)
    assert "status figures not reported this time" in caplog.text

    monkeypatch.setattr(reporting, "counts_add", real)
    reporter.count("users", stored=1)
    assert reporter.report(lag=None)
    assert reporter.report(lag=None)  # and only once
    assert stats() == {("users", bucket_of(NOW)): (5, 0)}


@pytest.mark.django_db
def test_prune_drops_what_is_older_than_a_day_and_keeps_the_rest():
    day = 24 * 3600
    old, recent = bucket_of(NOW - day - 60), bucket_of(NOW - day + 60)
    ConsumerStat.objects.create(topic="users", bucket=old, stored=1)
    ConsumerStat.objects.create(topic="users", bucket=recent, stored=2)
    for partition, reported in ((0, NOW - day - 60), (1, NOW - 5)):
        PartitionLagRow.objects.create(
            topic="users",
            partition=partition,
            end_offset=1,
            committed=1,
            lag=0,
            consumer="host:1",
            reported_at=datetime.fromtimestamp(reported, tz=UTC),
        )

    assert prune(now=NOW) == 2

    assert list(ConsumerStat.objects.values_list("bucket", flat=True)) == [recent]
    assert list(PartitionLagRow.objects.values_list("partition", flat=True)) == [1]


def failure_of(topic: str, offset: int) -> Failure:
    message = FakeMessage(topic, 0, offset)
    return Failure.of_message(message, error="gender: not a choice", error_kind="invalid-record")


def sample(name: str, **labels) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


class LagConsumer(FakeConsumer):
    """Partitions users[0] (committed 4) and users[1] (nothing committed), 10 messages each."""

    def __init__(self):
        super().__init__(committed={("users", 0): 4}, assigned=[("users", 0), ("users", 1)])

    def get_watermark_offsets(self, tp, timeout, cached):
        return 0, 10


def test_an_iteration_counts_what_it_stored_and_dead_lettered_per_topic():
    figures = Figures(LagConsumer(), ["fig.users", "fig.events"], beside=False)
    figures.progress.interval = figures.progress.idle_interval = 3600  # no line due
    figures.reporter.maybe_report = lambda lag: False  # no report due
    before = sample("betreco_records_stored_total", topic="fig.users")
    stored = Batch(
        messages("fig.users", 0, [0, 1, 2]) + messages("fig.events", 0, [0]),
        failures=[failure_of("fig.users", 2)],
    )
    figures.after_iteration(stored, seconds=0.25)
    assert sample("betreco_records_stored_total", topic="fig.users") - before == 2
    assert sample("betreco_dead_letters_total", topic="fig.users") >= 1
    assert sample("betreco_records_stored_total", topic="fig.events") >= 1
    assert sorted((topic, row) for (topic, _), row in figures.reporter.counts.items()) == [
        ("fig.events", [1, 0]),
        ("fig.users", [2, 1]),
    ]
    assert (figures.progress.total, figures.progress.dead_lettered) == (4, 1)


def test_every_series_of_a_consumers_topics_exists_from_the_start():
    Figures(LagConsumer(), ["fig.coupons"])
    text = generate_latest(REGISTRY).decode()
    assert 'betreco_records_stored_total{topic="fig.coupons"} 0.0' in text
    assert 'betreco_offset_gaps_total{topic="fig.coupons"} 0.0' in text


@pytest.mark.django_db
def test_the_lag_of_each_assigned_partition_is_reported_and_forgotten_when_it_leaves():
    figures = Figures(LagConsumer(), ["users"], beside=False)
    figures.close()  # the last report: lag from the consumer, into the gauge and the rows
    assert sample("betreco_consumer_lag", topic="users", partition="0") == 6
    assert sample("betreco_consumer_lag", topic="users", partition="1") == 10
    assert {row.partition: row.lag for row in PartitionLagRow.objects.all()} == {0: 6, 1: 10}
    reporting.forget_lag({("users", 1)})
    assert (
        REGISTRY.get_sample_value("betreco_consumer_lag", {"topic": "users", "partition": "1"})
        is None
    )


@pytest.mark.django_db
def test_parked_coupons_expired_by_the_upkeep_count_as_dead_letters_of_the_coupons_topic():
    figures = Figures(LagConsumer(), ["coupons"], beside=False)
    figures.expired(3)
    assert figures.progress.dead_lettered == 3
    assert [counts for (topic, _), counts in figures.reporter.counts.items()] == [[0, 3]]
    assert figures.count_parked() == 0


class StuckLagConsumer(LagConsumer):
    """A broker that does not answer the lag read until released."""

    def __init__(self):
        super().__init__()
        self.released = threading.Event()

    def committed(self, partitions, timeout):
        self.released.wait(30)
        return super().committed(partitions, timeout)


def test_a_slow_lag_read_never_holds_the_loop_and_its_counts_arrive_in_order():
    consumer = StuckLagConsumer()
    figures = Figures(consumer, ["fig.slow"])
    figures.progress.interval = 0  # the progress line, with the lag, is due at once
    figures.reporter.maybe_report = lambda lag: False
    try:
        for offset in range(3):
            figures.after_iteration(Batch(messages("fig.slow", 0, [offset])), seconds=0.1)
        assert figures.progress.total < 3  # the loop went on; the figures wait on the broker
    finally:
        consumer.released.set()
    assert figures.jobs.settle(timeout=10)
    assert figures.progress.total == 3
    figures.jobs.stop()
