"""Commit and rebalances: what a consumer owes its group of each partition it owns.

A batch's offsets are committed only once it is stored and its dead
letters acknowledged (`commit`, docs/consumers.md), synchronously; a commit
that fails stays pending for the next attempt. The
group moves partitions between its members at any time
(`KAFKA_ASSIGNMENT_STRATEGY`, docs/consumers.md#assignment), and each
callback does what that takes:

- assigned: paused at once while the loop waits (`holding`); a topic
  recreated comes back as an assignment, so its id for derived ids is read
  again (`derived_ids`);
- revoked: a batch being stored finishes first, what is stored of the
  leaving partitions is committed, then they are forgotten;
- lost: forgotten without a commit (another member has them already);
  their uncommitted batch is redelivered.

Forgetting a partition drops what was collected of it (`poll`), its next
expected offset (`offsets`), its pending commit and its lag gauge.
"""

import logging
import time

from confluent_kafka import Consumer, KafkaException, TopicPartition

from ingest.kafka.batch import Batch
from ingest.kafka.derived_ids import DerivedIds
from ingest.kafka.holding import Holding
from ingest.kafka.poll import Poller
from ingest.kafka.reporting import forget_lag
from ingest.kafka.topics import Position

logger = logging.getLogger(__name__)


class Partitions:
    """The partitions a consumer owns: offsets stored and not committed yet, and rebalances."""

    def __init__(
        self, consumer: Consumer, *, holding: Holding, poller: Poller, derived_ids: DerivedIds
    ):
        self.consumer = consumer
        self.holding = holding
        self.poller = poller
        self.derived_ids = derived_ids
        self.pending: dict[Position, int] = {}  # stored, not yet committed
        self.assigned_at: float | None = None  # the last assignment (monotonic)

    def subscribe(self, topics: list[str]) -> None:
        self.consumer.subscribe(
            topics, on_assign=self.assigned, on_revoke=self.revoked, on_lost=self.lost
        )

    def commit(
        self,
        stored: Batch | None = None,
        *,
        only: set[Position] | None = None,
        polling: bool = False,
    ) -> None:
        """Commit `stored`'s offsets and those still pending, synchronously; keep what fails.

        `stored`: a batch stored, its dead letters acknowledged. `only`: commit
        these partitions' offsets only. `polling`: a commit queued behind a
        rebalance can wait for as long as the group takes to form again, so
        it runs beside the poll loop (`Holding.run_polling`); rebalance
        callbacks and closing commit inline.
        """
        if stored is not None:
            self._owe(stored)
        offsets = [
            TopicPartition(topic, partition, offset)
            for (topic, partition), offset in self.pending.items()
            if only is None or (topic, partition) in only
        ]
        if not offsets:
            return

        def commit():
            return self.consumer.commit(offsets=offsets, asynchronous=False)

        try:
            if polling:
                committed, _ = self.holding.run_polling(commit, what="committing offsets")
            else:
                committed = commit()
        except KafkaException as error:
            logger.warning("committing offsets failed, will retry: %s", error)
            return
        for tp in committed or offsets:
            if tp.error is None:
                self.pending.pop((tp.topic, tp.partition), None)
            else:
                logger.warning("committing %s[%d] failed: %s", tp.topic, tp.partition, tp.error)

    def _owe(self, batch: Batch) -> None:
        assigned = {(tp.topic, tp.partition) for tp in self.consumer.assignment()}
        for position, offset in batch.next_offsets.items():
            if position in assigned:  # a partition lost meanwhile is its new owner's to commit
                self.pending[position] = max(offset, self.pending.get(position, 0))

    def assigned(self, _consumer, partitions: list[TopicPartition]) -> None:
        self.assigned_at = time.monotonic()
        logger.info("assigned %s", _describe(partitions))
        # A topic recreated, or a broker started again, comes back as an assignment.
        self.derived_ids.forget_topics({tp.topic for tp in partitions})
        self.holding.assigned(partitions)  # paused at once if we are waiting

    def revoked(self, _consumer, partitions: list[TopicPartition]) -> None:
        """Commit what is stored of the partitions leaving us, then forget them."""
        logger.info("revoked %s", _describe(partitions))
        leaving = {(tp.topic, tp.partition) for tp in partitions}
        self.holding.finish_work()
        self.commit(only=leaving)
        self._forget(leaving)
        self.holding.left(leaving)

    def lost(self, _consumer, partitions: list[TopicPartition]) -> None:
        logger.warning(
            "lost %s (their uncommitted batch will be redelivered)", _describe(partitions)
        )
        lost = {(tp.topic, tp.partition) for tp in partitions}
        self._forget(lost)
        self.holding.left(lost)

    def _forget(self, positions: set[Position]) -> None:
        self.poller.forget(positions)
        for position in positions:
            self.pending.pop(position, None)
        forget_lag(positions)  # no lag of ours to report for a partition another member holds


def _describe(partitions: list[TopicPartition]) -> str:
    return ", ".join(f"{tp.topic}[{tp.partition}]" for tp in partitions) or "nothing"
