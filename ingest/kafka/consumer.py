"""The consumer loop (docs/consumers.md): consume a batch, store it in one transaction, commit.

Each iteration:

1. `consume` up to `batch_size` messages of any subscribed topic;
2. decode and validate them (`batch.prepare`); what can never be stored
   becomes a dead letter;
3. store the valid records and the dead-letter rows in one transaction,
   retried with backoff while the database is unavailable, the partitions
   paused and polled meanwhile so that the group keeps us (`holding`);
4. produce the dead letters and wait for the broker's acknowledgement;
5. commit the batch's offsets synchronously, only now;
6. drain the outboxes the batch wrote to (recommendation refreshes,
   `drains`): at once when the flow pauses, coalesced while it is high;
   a drain that runs long (a full rebuild taken over) runs with the
   partitions paused and polled, like an outage.

A crash at any point replays the uncommitted batch, which the idempotent
upserts store as if for the first time; work owed after a commit waits in
the database for the next drain. Every few seconds the loop logs a
progress line, reports its figures for the status page (`reporting`) and
looks after parked coupons (`parked`).

The loop is written on confluent-kafka directly, not on a stream-processing
library, because one process consumes several topics into one transaction
per batch, dead letters carry their reason in headers, and a database
outage must hold the same batch (not skip or crash) until it ends.
"""

import logging
import os
import socket
import time
from collections import Counter
from dataclasses import dataclass, field

from confluent_kafka import Consumer, KafkaException
from django.conf import settings
from django.db import DatabaseError, close_old_connections

from betreco import metrics
from betreco.crashpoints import crash_point
from ingest.kafka import batch as batches
from ingest.kafka.admin import ensure_topics, wait_for_broker
from ingest.kafka.backoff import (
    DATABASE_UNAVAILABLE,
    Stopped,
    bound_database_waits,
    drop_database_connections,
    retry,
)
from ingest.kafka.client_config import client_config, redacted
from ingest.kafka.dead_letter import PUBLISH_TIMEOUT, DeadLetterPublisher, dead_letter_producer
from ingest.kafka.derived_ids import DerivedIds
from ingest.kafka.drains import OutboxDrains
from ingest.kafka.holding import Holding, longest_quiet, max_poll_interval_ms
from ingest.kafka.lag import PartitionLag, by_topic, lag_by_partition
from ingest.kafka.logs import with_logging
from ingest.kafka.offsets import Offsets
from ingest.kafka.parked import parked_upkeep
from ingest.kafka.poll import Poller
from ingest.kafka.progress import Progress
from ingest.kafka.rebalance import Partitions
from ingest.kafka.reporting import Reporter
from ingest.kafka.store import Store
from ingest.kafka.topics import kind_of_topic, topic_name
from ingest.models import ParkedCoupon

logger = logging.getLogger(__name__)

MAINTENANCE_INTERVAL = 5.0


@dataclass
class ConsumerOptions:
    """What to consume and when to stop; the defaults come from settings."""

    topics: list[str]
    group_id: str = field(default_factory=lambda: settings.KAFKA_CONSUMER_GROUP)
    batch_size: int = field(default_factory=lambda: settings.CONSUMER_BATCH_SIZE)
    max_messages: int | None = None  # stop after this many messages
    until_idle: float | None = None  # stop after this many seconds without a message
    poll_timeout: float = 1.0
    bootstrap_servers: str = field(default_factory=lambda: settings.KAFKA_BOOTSTRAP_SERVERS)


def consumer_config(options: ConsumerOptions) -> dict:
    session_timeout = settings.KAFKA_SESSION_TIMEOUT_MS
    config = client_config(
        {
            "group.id": options.group_id,
            "client.id": f"betreco-consumer-{socket.gethostname()}-{os.getpid()}",
            "enable.auto.commit": False,
            "enable.auto.offset.store": False,
            "auto.offset.reset": "earliest",
            "session.timeout.ms": session_timeout,
            "heartbeat.interval.ms": max(min(3000, session_timeout // 3), 100),
            "max.poll.interval.ms": max_poll_interval_ms(),
            "partition.assignment.strategy": "cooperative-sticky",
        },
        bootstrap_servers=options.bootstrap_servers,
    )
    logger.debug("Kafka consumer: %s", redacted(config))
    return with_logging(config)


class ConsumerLoop:
    """Consumes `options.topics` until stopped (`stop()`, e.g. from a signal handler)."""

    def __init__(self, options: ConsumerOptions):
        self.options = options
        self.kinds = [kind_of_topic(topic) for topic in options.topics]
        self.stopping = False
        self.progress = Progress(idle_interval=settings.CONSUMER_IDLE_LOG_INTERVAL)
        self.reporter = Reporter(f"{socket.gethostname()}:{os.getpid()}")
        self.consumed = 0
        self.last_activity = time.monotonic()
        self.next_maintenance = 0.0
        self.consumer: Consumer | None = None
        self.holding: Holding | None = None
        self.poller: Poller | None = None
        self.partitions: Partitions | None = None
        self.store: Store | None = None
        self.dead_letters: DeadLetterPublisher | None = None
        self.producer = None
        self.drains = OutboxDrains(should_stop=self.should_stop)
        self.derived_ids = DerivedIds(options.bootstrap_servers)
        self.started = time.monotonic()

    def stop(self, *_args) -> None:
        if not self.stopping:
            logger.info("stopping: finishing the current batch, then committing and leaving")
        self.stopping = True

    def should_stop(self) -> bool:
        return self.stopping

    def run(self) -> int:
        """Consume until stopped or a bound is reached; returns the number of messages handled."""
        # A third of the poll interval: a failed wait, its retry and the poll fit in it.
        bound_database_waits(max_poll_interval_ms() / 3000)
        try:
            wait_for_broker(self.options.bootstrap_servers, should_stop=self.should_stop)
            retry(
                lambda: ensure_topics(self.options.bootstrap_servers, self.kinds),
                what="creating topics",
                retry_on=(KafkaException,),
                should_stop=self.should_stop,
            )
            self.producer = dead_letter_producer(self.options.bootstrap_servers)
            self.drains.run()  # whatever a process that died before us still owed
            self.consumer = Consumer(consumer_config(self.options))
            self.holding = Holding(self.consumer, should_stop=self.should_stop)
            offsets = Offsets(
                self.consumer,
                gap_wait=settings.CONSUMER_GAP_WAIT_SECONDS,
                broker_timeout=longest_quiet(),
            )
            self.dead_letters = DeadLetterPublisher(
                self.producer, self.holding, should_stop=self.should_stop
            )
            self.store = Store(self.holding, self.derived_ids, should_stop=self.should_stop)
            self.poller = Poller(
                self.consumer,
                offsets,
                poll_timeout=self.options.poll_timeout,
                should_stop=self.should_stop,
            )
            for topic in self.options.topics:  # every series exists from the start, at 0
                for counter in (metrics.RECORDS_STORED, metrics.DEAD_LETTERS, metrics.OFFSET_GAPS):
                    counter.labels(topic)
            self.drains.runner = self._drain_polling
            self.partitions = Partitions(
                self.consumer,
                holding=self.holding,
                poller=self.poller,
                derived_ids=self.derived_ids,
            )
            self.partitions.subscribe(self.options.topics)
            logger.info(
                "consuming %s as group %r, batches of up to %d",
                ", ".join(self.options.topics),
                self.options.group_id,
                self.options.batch_size,
            )
            while not self._finished():
                self._iteration()
        except Stopped:
            logger.info("stopped during an outage; the unfinished batch will be redelivered")
        finally:
            self._close()
        return self.consumed

    def _drain_polling(self, work) -> None:
        """Drains run in a worker thread, the partitions paused and polled if they run long."""
        _, paused = self.holding.run_polling(work, what="draining outboxes")
        if paused:
            # Paused, no message could come: that was no idle time (`--until-idle`).
            self.last_activity = time.monotonic()

    def _finished(self) -> bool:
        options = self.options
        if self.stopping:
            return True
        if options.max_messages is not None and self.consumed >= options.max_messages:
            return True
        if options.until_idle is None:
            return False
        # Joining the group takes a while (longer when a killed member must
        # time out first): until the first assignment, wait longer.
        limit = options.until_idle
        assigned_at = self.partitions.assigned_at if self.partitions else None
        if assigned_at is None:
            limit += 3 * settings.KAFKA_SESSION_TIMEOUT_MS / 1000
        return time.monotonic() - max(self.last_activity, assigned_at or 0) >= limit

    def _iteration(self) -> None:
        limit = self.options.batch_size
        if self.options.max_messages is not None:
            limit = min(limit, self.options.max_messages - self.consumed)
        batch = self.poller.collect(limit)
        if batch.messages:
            self.last_activity = time.monotonic()
            started = time.perf_counter()
            self._handle(batch)
            crash_point("after-store")
        self.partitions.commit(polling=True)
        if batch.messages:
            metrics.BATCH_DURATION.observe(time.perf_counter() - started)
            crash_point("after-offsets")
            self.drains.after_batch(flow_paused=batch.fetched < limit)
        self._maintain()
        self.producer.poll(0)  # serves the dead-letter producer's callbacks and log lines
        self.progress.maybe_log(self._lag, self._parked_count)
        self.reporter.maybe_report(self._partition_lag)

    def _handle(self, batch: batches.Batch) -> None:
        """Store one batch, publish its dead letters, and mark its offsets for commit.

        Waits out an outage with the partitions paused (`holding`), then
        resumes them; records of partitions revoked meanwhile are not stored.
        """
        batch = self.store.store(batch)
        if batch is None:
            self.holding.resume("every held record went to other members")
            return
        self.dead_letters.publish(batch.failures)
        self.holding.resume(f"stored the held {batch.size} records")
        logger.debug("stored a batch of %d (%d dead letters)", batch.size, len(batch.failures))
        self.consumed += batch.size
        self.progress.batch_done(batch.size, len(batch.failures))
        self._count(batch)
        self.partitions.stored(batch)

    def _count(self, batch: batches.Batch) -> None:
        """Per topic, what a committed batch stored (or parked) and dead-lettered.

        Into the metrics (`betreco_records_stored`, `betreco_dead_letters`)
        and the figures reported to the database for the status page.
        """
        handled = Counter(message.topic() for message in batch.messages)
        dead = Counter(failure.topic for failure in batch.failures)
        for topic in handled.keys() | dead.keys():
            stored = max(handled[topic] - dead[topic], 0)
            self.reporter.count(topic, stored=stored, dead_lettered=dead[topic])
            if stored:
                metrics.RECORDS_STORED.labels(topic).inc(stored)
            if dead[topic]:
                metrics.DEAD_LETTERS.labels(topic).inc(dead[topic])

    def _maintain(self) -> None:
        """Now and then: parked coupons' upkeep, and a drain (events end without any write)."""
        now = time.monotonic()
        if now < self.next_maintenance:
            return
        interval = min(MAINTENANCE_INTERVAL, max(settings.PARKED_TIMEOUT_SECONDS / 2, 0.5))
        self.next_maintenance = now + interval
        close_old_connections()  # renews the connection in idle times too
        try:
            # Releasing thousands of parked coupons takes seconds: a write, run like a store.
            upkeep = self.holding.run_writing(
                lambda: parked_upkeep(self.producer), what="looking after parked coupons"
            )
            expired = upkeep.dead_lettered
            self.progress.dead_lettered += expired
            self.reporter.count(topic_name("coupons"), dead_lettered=expired)
        except DATABASE_UNAVAILABLE as error:
            logger.warning("parked coupons not checked, the database is unavailable: %s", error)
            drop_database_connections()
        except DatabaseError as error:  # e.g. a concurrent release: try again next time
            logger.warning("parked coupons not checked this time: %s", error)
        except KafkaException as error:
            logger.warning("expired parked coupons not dead-lettered yet: %s", error)
        self.drains.run()
        # The parked gauge follows the maintenance beat, not the progress line (quiet when
        # idle); the lag gauges follow the reporter's, which reads the lag anyway.
        self._parked_count()

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

    def _lag(self) -> dict[str, int] | None:
        rows = self._partition_lag()
        if rows is None:
            return None
        return {topic: row.lag for topic, row in by_topic(rows).items()}

    def _parked_count(self) -> int | None:
        try:
            count = ParkedCoupon.objects.count()
        except DATABASE_UNAVAILABLE:
            return None
        metrics.PARKED_COUPONS.set(count)
        return count

    def _close(self) -> None:
        if self.consumer is not None:
            self.partitions.commit()
            self.reporter.report(self._partition_lag())
            self.holding.close()  # the worker thread may still be using the consumer
            self.consumer.close()  # leaves the group at once
        if self.producer is not None:
            self.producer.flush(PUBLISH_TIMEOUT)
        drop_database_connections()
        logger.info(
            "consumer closed after %d messages in %.1f s, %.1f s of it draining outboxes",
            self.consumed,
            time.monotonic() - self.started,
            self.drains.seconds,
        )
