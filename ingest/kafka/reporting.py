"""A consumer's figures for the status page, written to the database (docs/operations.md).

The status page may be served by any process (an API worker, not the
consumer), so consumers report what they did where every process can read
it: records stored and dead-lettered per topic in buckets of
`BUCKET_SECONDS` (`ConsumerStat`), and the lag of each partition they own
(`PartitionLag`). The loop counts in memory (`Reporter.count`) and calls
`Reporter.maybe_report` every iteration; at most every `REPORT_INTERVAL`
seconds that writes everything counted in one transaction of set-based
upserts, and about every `PRUNE_INTERVAL` drops what is older than
`KEEP_SECONDS`.

Reporting never fails the loop: a database error is logged (once a
minute at most) and the counts wait in memory for the next report.
"""

import contextlib
import logging
import time
from collections import defaultdict
from collections.abc import Callable, Iterable
from datetime import UTC, datetime

from django.db import DatabaseError, connection, transaction

from betreco import metrics
from ingest.kafka.lag import PartitionLag
from ingest.models import ConsumerStat
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

    def maybe_report(self, lag: Callable[[], list[PartitionLag] | None]) -> bool:
        """`report` if `interval` has passed since the last one (`lag` is asked only then)."""
        now = time.monotonic()
        if now < self._next_report:
            return False
        self._next_report = now + self.interval
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
