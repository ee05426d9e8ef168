"""A consumer's figures: its metrics, its progress line and its rows for the status page.

`Figures` is the loop's one place for what it counts (docs/operations.md):
each stored batch goes into the Prometheus metrics (`betreco_records_stored`,
`betreco_dead_letters`, the lag and parked gauges), the progress line
(`progress.py`) and the status page's rows, reported every few seconds.

The status page may be served by any process (an API worker, not the
consumer), so consumers report what they did where every process can read
it: records stored and dead-lettered per topic in buckets of
`BUCKET_SECONDS` (`ConsumerStat`), and the lag of each partition they own
(`PartitionLag`). The loop counts in memory (`Reporter.count`) and calls
`Reporter.maybe_report` every iteration; at most every `REPORT_INTERVAL`
seconds that writes everything counted in one transaction of set-based
upserts, and about every `PRUNE_INTERVAL` drops what is older than
`KEEP_SECONDS`.

Reporting never fails the loop, nor holds it: everything that may wait on
the broker or the database (the lag, the parked count, the status rows)
runs in a thread of its own (`Beside`), in the order the loop hands it
over, so that the loop polls on meanwhile (a loaded machine once stretched
those reads and writes between two polls past a short poll interval). A
database error is logged (once a minute at most) and the counts wait in
memory for the next report.
"""

import contextlib
import logging
import os
import queue
import socket
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from confluent_kafka import Consumer, KafkaException
from django.conf import settings
from django.db import DatabaseError, close_old_connections, connection, connections, transaction

from betreco import metrics
from ingest.kafka.backoff import DATABASE_UNAVAILABLE
from ingest.kafka.batch import Batch
from ingest.kafka.holding import longest_quiet
from ingest.kafka.lag import PartitionLag, by_topic, lag_by_partition
from ingest.kafka.progress import Progress
from ingest.kafka.topics import topic_name
from ingest.models import ConsumerStat, ParkedCoupon
from ingest.models import PartitionLag as PartitionLagRow

logger = logging.getLogger(__name__)

BUCKET_SECONDS = 10
REPORT_INTERVAL = 3.0
PRUNE_INTERVAL = 600.0
KEEP_SECONDS = 24 * 3600
ERROR_LOG_INTERVAL = 60.0


def bucket_of(unix_time: float) -> int:
    """The start of the bucket holding `unix_time` (seconds)."""
    return int(unix_time // BUCKET_SECONDS) * BUCKET_SECONDS


def counts_add(counts: dict[tuple[str, int], tuple[int, int]]) -> None:
    """Add (stored, dead-lettered) to each (topic, bucket) row, creating the missing ones.

    One INSERT … ON CONFLICT DO UPDATE per row in one executemany, adding
    to what is there: several consumers of one topic share its rows.
    """
    if not counts:
        return
    table = connection.ops.quote_name(ConsumerStat._meta.db_table)
    sql = (
        f"INSERT INTO {table} (topic, bucket, stored, dead_lettered) VALUES (%s, %s, %s, %s) "
        "ON CONFLICT (topic, bucket) DO UPDATE SET "
        f"stored = {table}.stored + excluded.stored, "
        f"dead_lettered = {table}.dead_lettered + excluded.dead_lettered"
    )
    rows = [(topic, bucket, stored, dead) for (topic, bucket), (stored, dead) in counts.items()]
    with connection.cursor() as cursor:
        cursor.executemany(sql, rows)


def lags_store(rows: Iterable[PartitionLag], *, consumer: str, reported_at: datetime) -> None:
    """Replace the lag of each partition in `rows` with what `consumer` saw at `reported_at`."""
    objects = [
        PartitionLagRow(
            topic=row.topic,
            partition=row.partition,
            end_offset=row.end,
            committed=row.committed,
            lag=row.lag,
            consumer=consumer,
            reported_at=reported_at,
        )
        for row in rows
    ]
    if objects:
        PartitionLagRow.objects.bulk_create(
            objects,
            update_conflicts=True,
            unique_fields=["topic", "partition"],
            update_fields=["end_offset", "committed", "lag", "consumer", "reported_at"],
        )


def prune(*, now: float, keep: float = KEEP_SECONDS) -> int:
    """Drop buckets and lag rows older than `keep` seconds; returns the rows deleted."""
    cutoff = now - keep
    stats, _ = ConsumerStat.objects.filter(bucket__lt=bucket_of(cutoff)).delete()
    lags, _ = PartitionLagRow.objects.filter(
        reported_at__lt=datetime.fromtimestamp(cutoff, tz=UTC)
    ).delete()
    return stats + lags


class Reporter:
    """One consumer's counts, written to the database every `interval` seconds.

    `clock` is Unix time (the buckets are wall-clock minutes any process
    can compare); the intervals run on the monotonic clock.
    """

    def __init__(
        self,
        consumer: str,
        *,
        interval: float = REPORT_INTERVAL,
        clock: Callable[[], float] = time.time,
    ):
        self.consumer = consumer
        self.interval = interval
        self.clock = clock
        self.counts: dict[tuple[str, int], list[int]] = defaultdict(lambda: [0, 0])
        self._next_report = 0.0
        self._next_prune = 0.0
        self._error_logged_at = -ERROR_LOG_INTERVAL

    def count(self, topic: str, *, stored: int = 0, dead_lettered: int = 0) -> None:
        """Count records of `topic` handled now."""
        if stored or dead_lettered:
            row = self.counts[(topic, bucket_of(self.clock()))]
            row[0] += stored
            row[1] += dead_lettered

    def due(self) -> bool:
        return time.monotonic() >= self._next_report

    def maybe_report(self, lag: Callable[[], list[PartitionLag] | None]) -> bool:
        """`report` if `interval` has passed since the last one (`lag` is asked only then)."""
        if not self.due():
            return False
        self._next_report = time.monotonic() + self.interval
        return self.report(lag())

    def report(self, lag: list[PartitionLag] | None) -> bool:
        """Write the counts so far and `lag` (None: unknown, keep the last); False on a DB error."""
        counts = {key: (stored, dead) for key, (stored, dead) in self.counts.items()}
        try:
            with transaction.atomic():
                counts_add(counts)
                if lag:
                    lags_store(
                        lag,
                        consumer=self.consumer,
                        reported_at=datetime.fromtimestamp(self.clock(), tz=UTC),
                    )
        except DatabaseError as error:
            self._log_error(error)
            keep_recent(self.counts, now=self.clock())
            return False
        for key in counts:
            del self.counts[key]
        if time.monotonic() >= self._next_prune:
            self._next_prune = time.monotonic() + PRUNE_INTERVAL
            try:
                prune(now=self.clock())
            except DatabaseError as error:
                self._log_error(error)
        return True

    def _log_error(self, error: DatabaseError) -> None:
        now = time.monotonic()
        if now - self._error_logged_at >= ERROR_LOG_INTERVAL:
            self._error_logged_at = now
            logger.warning("status figures not reported this time (kept for later): %s", error)


def forget_lag(positions) -> None:
    """Drop the lag gauge (`betreco_consumer_lag`) of partitions no longer this consumer's."""
    for topic, partition in positions:
        with contextlib.suppress(KeyError):
            metrics.CONSUMER_LAG.remove(topic, str(partition))


def keep_recent(counts: dict, *, now: float) -> None:
    """Forget counts older than the kept window (a long outage must not grow memory)."""
    oldest = bucket_of(now - KEEP_SECONDS)
    for key in [key for key in counts if key[1] < oldest]:
        del counts[key]


class Beside:
    """Runs jobs one after another, in the order given, in a daemon thread of its own (one
    still waiting on the database when the process exits does not hold the exit)."""

    def __init__(self, name: str):
        self._jobs: queue.SimpleQueue = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def submit(self, job: Callable[[], object]) -> threading.Event:
        """Queue `job`; the event is set once it has run."""
        done = threading.Event()
        self._jobs.put((job, done))
        return done

    def settle(self, timeout: float | None = None) -> bool:
        """Wait until every job queued so far has run; False if `timeout` passed first."""
        return self.submit(lambda: None).wait(timeout)

    def stop(self) -> None:
        """No more jobs: the thread ends after those queued, closing its connections."""
        self._jobs.put(None)

    def _run(self) -> None:
        while (item := self._jobs.get()) is not None:
            job, done = item
            try:
                job()
            except Exception:  # a figure lost, never the thread
                logger.exception("reporting figures failed")
            finally:
                done.set()
        connections.close_all()


class Inline:
    """`Beside`'s interface, running each job at once (tests, and after `Beside` stopped)."""

    def submit(self, job: Callable[[], object]) -> threading.Event:
        done = threading.Event()
        job()
        done.set()
        return done

    def settle(self, timeout: float | None = None) -> bool:
        return True

    def stop(self) -> None:
        pass


# How long closing waits for the figures queued before it and the last report.
CLOSE_WAIT = 5.0


class Figures:
    """What a consumer counts, into the metrics, its progress line and the status page's rows.

    The loop hands each iteration over (`after_iteration`) and goes on at once; counting
    and reporting happen beside it (`Beside`; `beside=False` runs them inline).
    """

    def __init__(self, consumer: Consumer, topics: list[str], *, beside: bool = True):
        self.consumer = consumer
        self.progress = Progress(idle_interval=settings.CONSUMER_IDLE_LOG_INTERVAL)
        self.reporter = Reporter(f"{socket.gethostname()}:{os.getpid()}")
        self.jobs = Beside("betreco-figures") if beside else Inline()
        metrics.start_series(metrics.CONSUMER_TOPIC_METRICS, topics)

    def after_iteration(self, stored: Batch | None = None, seconds: float | None = None) -> None:
        """Count what an iteration stored (`seconds` from its poll to its commit), then
        report the progress line and the status page's rows, each when it is due."""
        if seconds is not None:
            metrics.BATCH_DURATION.observe(seconds)
        counted = None if stored is None else Counted.of(stored)
        self.jobs.submit(lambda: self._iteration_done(counted))

    def _iteration_done(self, counted: "Counted | None") -> None:
        if counted is not None:
            self._count(counted)
        if self.progress.due() or self.reporter.due():
            close_old_connections()  # a connection the database dropped is opened again
        self.progress.maybe_log(self._lag_by_topic, self.count_parked)
        self.reporter.maybe_report(self._partition_lag)

    def _count(self, counted: "Counted") -> None:
        """Per topic, what a committed batch stored (or parked) and dead-lettered."""
        handled, dead = counted.handled, counted.dead
        for topic in handled.keys() | dead.keys():
            stored = max(handled[topic] - dead[topic], 0)
            self.reporter.count(topic, stored=stored, dead_lettered=dead[topic])
            if stored:
                metrics.RECORDS_STORED.labels(topic).inc(stored)
            if dead[topic]:
                metrics.DEAD_LETTERS.labels(topic).inc(dead[topic])
        self.progress.batch_done(counted.size, sum(dead.values()))

    def expired(self, dead_lettered: int) -> None:
        """Parked coupons the upkeep dead-lettered (their metric counts them as they expire)."""

        def count():
            self.progress.dead_lettered += dead_lettered
            self.reporter.count(topic_name("coupons"), dead_lettered=dead_lettered)

        self.jobs.submit(count)

    def parked(self) -> None:
        """Count the parked coupons into `betreco_parked_coupons`, beside the loop."""
        self.jobs.submit(self.count_parked)

    def close(self) -> None:
        """The last report, before the consumer leaves its group: what is queued, then
        the counts and the lag, waited for `CLOSE_WAIT` seconds at most."""
        last = self.jobs.submit(lambda: self.reporter.report(self._partition_lag()))
        self.jobs.stop()
        if not last.wait(CLOSE_WAIT):
            logger.warning("the last status figures were not reported within %.0f s", CLOSE_WAIT)

    def count_parked(self) -> int | None:
        """Coupons parked now (also into `betreco_parked_coupons`); None if the database is away."""
        try:
            count = ParkedCoupon.objects.count()
        except DATABASE_UNAVAILABLE:
            return None
        metrics.PARKED_COUPONS.set(count)
        return count

    def _partition_lag(self) -> list[PartitionLag] | None:
        """Lag per partition (also into `betreco_consumer_lag`); None if the broker cannot say."""
        try:
            rows = lag_by_partition(
                self.consumer,
                self.consumer.assignment(),
                timeout=min(2.0, longest_quiet()),
                cached=True,
            )
        except KafkaException:
            return None
        for row in rows:
            metrics.CONSUMER_LAG.labels(row.topic, str(row.partition)).set(row.lag)
        return rows

    def _lag_by_topic(self) -> dict[str, int] | None:
        rows = self._partition_lag()
        if rows is None:
            return None
        return {topic: row.lag for topic, row in by_topic(rows).items()}


@dataclass(frozen=True)
class Counted:
    """What a stored batch adds to the figures: messages per topic, dead letters per topic."""

    handled: Counter
    dead: Counter
    size: int

    @classmethod
    def of(cls, batch: Batch) -> "Counted":
        return cls(
            handled=Counter(message.topic() for message in batch.messages),
            dead=Counter(failure.topic for failure in batch.failures),
            size=batch.size,
        )
