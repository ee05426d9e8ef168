"""The consumer loop (docs/consumers.md): it drives a batch through the steps, each a module.

Each iteration hands one batch on, in order:

1. poll (`poll.py`): up to `batch_size` messages of any subscribed topic,
   in offset order and without a gap (`offsets.py`);
2. decode and validate (`batch.py`), then store the valid records and the
   dead-letter rows in one transaction (`store.py`), retried while the
   database is unavailable with the partitions paused and polled, so that
   the group keeps us (`holding.py`);
3. dead letters (`dead_letter.py`): produced, and the broker's
   acknowledgement awaited;
4. commit (`rebalance.py`) the batch's offsets synchronously, only now; a
   rebalance commits what is stored before a partition leaves;
5. drain the outboxes the batch wrote to (recommendation refreshes,
   `drains.py`): at once when the flow pauses, coalesced while it is high,
   in the worker thread and polled beside if it runs long.

A crash at any point replays the uncommitted batch, which the idempotent
upserts store as if for the first time; work owed after a commit waits in
the database for the next drain. What the loop counts goes to `reporting.py`
(metrics, the progress line, the status page), and every few seconds it
looks after parked coupons (`parked.py`).

The steps follow sentry-arroyo's processing strategies, but the loop is
written on confluent-kafka directly: one process consumes several topics
into one transaction per batch, dead letters carry their reason in headers,
and a database outage must hold the same batch (not skip or crash) until it
ends.
"""

import logging
import os
import socket
import threading
import time
from dataclasses import dataclass, field

from confluent_kafka import Consumer, KafkaException, Producer
from django.conf import settings
from django.db import close_old_connections

from betreco.crashpoints import crash_point
from ingest.kafka.admin import ensure_topics, wait_for_broker
from ingest.kafka.backoff import Stopped, bound_database_waits, drop_database_connections, retry
from ingest.kafka.client_config import client_config, redacted
from ingest.kafka.dead_letter import PUBLISH_TIMEOUT, DeadLetterPublisher, dead_letter_producer
from ingest.kafka.derived_ids import DerivedIds
from ingest.kafka.drains import OutboxDrains
from ingest.kafka.holding import Holding, longest_quiet, max_poll_interval_ms
from ingest.kafka.logs import with_logging
from ingest.kafka.offsets import Offsets
from ingest.kafka.parked import ParkedUpkeep
from ingest.kafka.poll import Poller
from ingest.kafka.rebalance import Partitions
from ingest.kafka.reporting import Figures
from ingest.kafka.store import Store
from ingest.kafka.topics import kind_of_topic

logger = logging.getLogger(__name__)

# How long the last commit and leaving the group may take after a stop (Kafka's Java client
# bounds `close` at 30 s): a broker that does not answer, or holds a join through a
# rebalance, must not keep a stopping process past its grace period.
LEAVE_TIMEOUT = 10.0


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
            "partition.assignment.strategy": settings.KAFKA_ASSIGNMENT_STRATEGY,
        },
        bootstrap_servers=options.bootstrap_servers,
    )
    logger.debug("Kafka consumer: %s", redacted(config))
    return with_logging(config)


class ConsumerLoop:
    """Consumes `options.topics` until stopped (`stop()`, e.g. from a signal handler).

    Its steps, built around the consumer once the broker answers (`_join`):
    `poller`, `store`, `dead_letters`, `partitions` (commit), `drains`, and
    beside them `figures` and `parked`, all sharing `holding`.
    """

    def __init__(self, options: ConsumerOptions):
        self.options = options
        self.kinds = [kind_of_topic(topic) for topic in options.topics]
        self.stopping = False
        self.consumed = 0
        self.started = self.last_activity = time.monotonic()
        self.drains = OutboxDrains(should_stop=self.should_stop)  # refuses to run without one
        self.derived_ids = DerivedIds(options.bootstrap_servers)
        self.producer: Producer | None = None
        self.consumer: Consumer | None = None
        self.left_group = True  # False: leaving took longer than LEAVE_TIMEOUT, still under way

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
            self.drains.drain()  # whatever a process that died before us still owed
            self._join(Consumer(consumer_config(self.options)))
            while not self._finished():
                self._iteration()
        except Stopped:
            logger.info("stopped during an outage; the unfinished batch will be redelivered")
        finally:
            self._close()
        return self.consumed

    def _join(self, consumer: Consumer) -> None:
        """The steps around a new consumer, then the subscription."""
        stop = self.should_stop
        self.holding = Holding(consumer, should_stop=stop)
        offsets = Offsets(
            consumer, gap_wait=settings.CONSUMER_GAP_WAIT_SECONDS, broker_timeout=longest_quiet()
        )
        self.poller = Poller(
            consumer, offsets, poll_timeout=self.options.poll_timeout, should_stop=stop
        )
        self.store = Store(self.holding, self.derived_ids, should_stop=stop)
        self.dead_letters = DeadLetterPublisher(self.producer, self.holding, should_stop=stop)
        self.partitions = Partitions(
            consumer, holding=self.holding, poller=self.poller, derived_ids=self.derived_ids
        )
        self.figures = Figures(consumer, self.options.topics)
        self.parked = ParkedUpkeep(self.producer, self.holding)
        self.consumer = consumer  # closed, and its offsets committed, by `_close`
        self.partitions.subscribe(self.options.topics)
        logger.info(
            "consuming %s as group %r, batches of up to %d",
            ", ".join(self.options.topics),
            self.options.group_id,
            self.options.batch_size,
        )

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
        limit, assigned_at = options.until_idle, self.partitions.assigned_at
        if assigned_at is None:
            limit += 3 * settings.KAFKA_SESSION_TIMEOUT_MS / 1000
        return time.monotonic() - max(self.last_activity, assigned_at or 0) >= limit

    def _iteration(self) -> None:
        """One batch through the steps: poll, store, dead letters, commit, drain; then figures."""
        limit = self.options.batch_size
        if self.options.max_messages is not None:
            limit = min(limit, self.options.max_messages - self.consumed)
        batch = self.poller.collect(limit)
        stored = took = None
        if batch.messages:
            self.last_activity = time.monotonic()
            started = time.perf_counter()
            stored = self.store.store(batch)  # None: every partition of it left us meanwhile
            if stored is not None:
                self.dead_letters.publish(stored)  # then the partitions held for it resume
                logger.debug(
                    "stored a batch of %d (%d dead letters)", stored.size, len(stored.failures)
                )
                self.consumed += stored.size
            crash_point("after-store")
        self.partitions.commit(stored, polling=True)  # and what an earlier attempt left
        if batch.messages:
            took = time.perf_counter() - started
            crash_point("after-offsets")
            if self.drains.due(flow_paused=batch.fetched < limit):
                self._drain()
        self._upkeep()
        self.producer.poll(0)  # serves the dead-letter producer's callbacks and log lines
        self.figures.after_iteration(stored, took)

    def _drain(self) -> None:
        """Drains run in the worker thread, the partitions paused and polled if they run long."""
        _, paused = self.holding.run_polling(self.drains.drain, what="draining outboxes")
        if paused:  # no message could come meanwhile: that was no idle time (`--until-idle`)
            self.last_activity = time.monotonic()

    def _upkeep(self) -> None:
        """Every few seconds: parked coupons, a drain (events end without any write), gauges."""
        if not self.parked.due():
            return
        close_old_connections()  # renews the connection in idle times too
        self.figures.expired(self.parked.run())
        self._drain()
        # The parked gauge follows this beat, not the progress line (quiet when idle).
        self.figures.parked()

    def _close(self) -> None:
        if self.consumer is not None:
            self.figures.close()
            self.holding.close()  # the worker thread may still be using the consumer
            self._leave()
        if self.producer is not None:
            self.producer.flush(PUBLISH_TIMEOUT)
        drop_database_connections()
        logger.info(
            "consumer closed after %d messages in %.1f s, %.1f s of it draining outboxes",
            self.consumed,
            time.monotonic() - self.started,
            self.drains.seconds,
        )

    def _leave(self) -> None:
        """Commit what is stored, then leave the group; give up waiting after LEAVE_TIMEOUT.

        Both wait on the broker without a bound of their own. What is stored is safe
        either way: an offset not committed only redelivers records the upserts store
        again, and a member that never said goodbye is dropped on its session timeout.
        """

        def commit_and_close():
            self.partitions.commit()
            self.consumer.close()  # revokes (committing what is stored), leaves the group

        leaving = threading.Thread(target=commit_and_close, name="betreco-leave", daemon=True)
        leaving.start()
        leaving.join(LEAVE_TIMEOUT)
        if leaving.is_alive():
            self.left_group = False
            logger.warning(
                "the broker did not let us commit and leave the group within %.0f s; "
                "exiting without it (the group drops us on the session timeout, and "
                "what was not committed is stored again, unchanged, by the next owner)",
                LEAVE_TIMEOUT,
            )
