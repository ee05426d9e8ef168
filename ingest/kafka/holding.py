"""Waiting without leaving the consumer group (docs/consumers.md): partitions paused, polling on.

librdkafka drops a member whose application has not called poll() for
`max.poll.interval.ms` (five minutes by default). Its partitions then go
to another member, which stores the same records from the last committed
offset, and the batch the first one still held, stored when its outage
ends, could overwrite a newer version of a record with an older one. So
whenever the loop must wait (the database or the broker is unavailable, a
drain runs long) it pauses every assigned partition and keeps polling: a
paused partition fetches nothing, but each poll keeps the membership alive
and serves the rebalance callbacks.

A rebalance can still happen while paused (a member joins or leaves):
partitions assigned meanwhile are paused as they arrive (`assigned`), and
when a partition of the held batch is revoked or lost, `wait` raises
`Revoked` so that the caller drops that partition's records (the new
owner reads them again from the committed offset) and stores the rest.
After `resume`, fetching goes on from each partition's position: after
the held batch, which is stored by then.
"""

import contextlib
import logging
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as StillRunning

from confluent_kafka import Consumer, KafkaException, TopicPartition
from django.conf import settings
from django.db import close_old_connections, connections

from ingest.kafka.backoff import Stopped
from ingest.kafka.topics import Position

logger = logging.getLogger(__name__)

POLL_WAIT = 0.2  # seconds one poll() may block while paused
SLOW_WORK = 1.0  # seconds of `run_polling` work before the partitions are paused


def max_poll_interval_ms() -> int:
    """The consumer's `max.poll.interval.ms`: librdkafka refuses one shorter than the session."""
    return max(settings.KAFKA_MAX_POLL_INTERVAL_MS, settings.KAFKA_SESSION_TIMEOUT_MS)


def longest_quiet() -> float:
    """The longest one step of the loop may run without polling: a sixth of the poll interval.

    A step that may take longer (preparing and storing a batch) runs in the worker
    thread and is polled beside past this; a broker request waits at most this long.
    Several such steps in a row must still fit in `max.poll.interval.ms`.
    """
    return min(max(max_poll_interval_ms() / 6000, 0.5), 5.0)


class Revoked(Exception):  # noqa: N818 - an event the caller handles, not a failure
    """Partitions of the held records left this consumer while it waited."""

    def __init__(self, positions: set[Position]):
        super().__init__(", ".join(f"{topic}[{partition}]" for topic, partition in positions))
        self.positions = positions


class Holding:
    """Pauses a consumer's partitions while it waits, and polls it meanwhile."""

    def __init__(self, consumer: Consumer, *, should_stop: Callable[[], bool]):
        self.consumer = consumer
        self.should_stop = should_stop
        self.paused_since: float | None = None
        self.held: set[Position] = set()  # partitions whose records the loop holds
        self.gone: set[Position] = set()  # of those, revoked or lost while waiting
        self._worker: ThreadPoolExecutor | None = None
        self._must_finish: Future | None = None

    @property
    def paused(self) -> bool:
        return self.paused_since is not None

    def hold(self, positions: set[Position]) -> None:
        """From now on, a rebalance that takes one of `positions` interrupts `wait`."""
        self.held, self.gone = set(positions), set()

    def pause(self, why: str, *, since: float | None = None, level: int = logging.WARNING) -> None:
        """Pause every assigned partition (once, saying `why`), until `resume`.

        `since`: when the wait began, if before now (the resume line says how long it lasted).
        """
        if self.paused:
            return
        self.consumer.pause(self.consumer.assignment())
        self.paused_since = time.monotonic() if since is None else since
        logger.log(level, "%s, partitions paused", why)

    def resume(self, done: str) -> None:
        """The held records are settled: resume every assigned partition, if paused."""
        self.held, self.gone = set(), set()
        self._unpause(done)

    def _unpause(self, done: str) -> None:
        """Resume every assigned partition, if paused, saying what ended the wait."""
        if not self.paused:
            return
        self.consumer.resume(self.consumer.assignment())
        waited = time.monotonic() - self.paused_since
        logger.info("%s after %.1f s, partitions resumed", done, waited)
        self.paused_since = None

    def wait(self, seconds: float) -> None:
        """Poll the paused consumer for `seconds` (`backoff.retry`'s wait).

        Raises Stopped when the process is told to stop, and Revoked when
        partitions of the held records left this consumer meanwhile.
        """
        deadline = time.monotonic() + seconds
        while True:
            if self.should_stop():
                raise Stopped
            self._poll(min(max(deadline - time.monotonic(), 0), POLL_WAIT))
            gone = self.gone & self.held
            if gone:
                self.held -= gone
                raise Revoked(gone)
            if time.monotonic() >= deadline:
                return

    def run_polling(
        self,
        work: Callable[[], object],
        *,
        what: str,
        slow_after: float = SLOW_WORK,
        finish_before_rebalance: bool = False,
    ) -> tuple[object, bool]:
        """Run `work` in a worker thread, polling while it runs long; its result, and if it paused.

        Work that ends within `slow_after` seconds costs nothing more; longer
        work (storing a big batch on a busy database, a full recommendation
        rebuild a drain took over, an offset commit queued behind a
        rebalance) no longer counts against `max.poll.interval.ms`: the
        partitions are paused and polled until it ends. With
        `finish_before_rebalance` (storing a batch), a rebalance served
        meanwhile waits for the work in `finish_work`, so no partition
        leaves while its records are being written. The worker thread keeps
        its own database connection between runs. Not for rebalance
        callbacks, which must not poll.
        """
        if self._worker is None:
            self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="betreco-work")
        started = time.monotonic()
        future = self._worker.submit(_with_fresh_connections, work)
        self._must_finish = future if finish_before_rebalance else None
        try:
            return future.result(timeout=slow_after), False
        except StillRunning:
            pass
        finally:
            if future.done():
                self._must_finish = None
        # Slow, not broken (a rebalance, a big drain): worth a line, not a warning. Already
        # paused (a retry through an outage): the wait that paused resumes, not this work.
        pausing = not self.paused
        if pausing:
            self.pause(f"{what} is taking a while", since=started, level=logging.INFO)
        try:
            while not future.done():
                self._poll(POLL_WAIT)
        finally:
            self._must_finish = None
        if pausing:
            self._unpause(f"{what} done")
        return future.result(), True

    def run_writing(self, work: Callable[[], object], *, what: str) -> object:
        """Prepare, store or release in the worker thread; past `longest_quiet`, polling beside.

        A batch that takes long to validate or write (a busy machine or
        database, a slow disk) must not cost the group membership: the member
        would be dropped and its partitions given to another while it still
        writes their records; a rebalance waits for the write (`finish_work`).
        """
        result, _ = self.run_polling(
            work, what=what, slow_after=longest_quiet(), finish_before_rebalance=True
        )
        return result

    def finish_work(self) -> None:
        """From a rebalance callback: let a batch being stored finish before partitions move."""
        future = self._must_finish
        if future is not None and not future.done():
            logger.info("rebalance: finishing the batch being stored first")
            with contextlib.suppress(Exception):  # its caller sees the outcome
                future.result()

    def assigned(self, partitions: list[TopicPartition]) -> None:
        """From `on_assign`: while paused, a partition is paused as soon as it is assigned;
        otherwise it is resumed, since librdkafka keeps a partition's pause when it is
        taken away, and one paused then would come back paused and never be fetched."""
        if settings.KAFKA_ASSIGNMENT_STRATEGY == "cooperative-sticky":
            self.consumer.incremental_assign(partitions)  # the partitions added
        else:
            self.consumer.assign(partitions)  # eager: the whole assignment
        if self.paused:
            self.consumer.pause(partitions)
        else:
            self.consumer.resume(partitions)

    def left(self, positions: set[Position]) -> None:
        """From `on_revoke` and `on_lost`: these partitions are no longer ours."""
        self.gone |= positions

    def close(self) -> None:
        """Stop the worker thread, closing its database connections."""
        if self._worker is not None:
            self._worker.submit(connections.close_all).result()
            self._worker.shutdown()
            self._worker = None

    def _poll(self, timeout: float) -> None:
        message = self.consumer.poll(timeout)
        if message is None or message.error() is not None:
            return
        # A paused partition fetches nothing; should a message come all the same, it is
        # fetched again after `resume` rather than skipped.
        with contextlib.suppress(KafkaException):  # revoked meanwhile: its new owner reads it
            self.consumer.seek(
                TopicPartition(message.topic(), message.partition(), message.offset())
            )


def _with_fresh_connections(work: Callable[[], object]) -> object:
    close_old_connections()
    return work()
