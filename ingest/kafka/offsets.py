"""Gap-free consumption: a consumer never moves past an offset it has not received.

Kafka lets a fetch skip offsets (compaction removes records, transaction
markers take an offset of their own), so librdkafka accepts a fetched
message above its partition's next offset without a word. The embedded
broker turns that into lost records: it reserves a produce request's
offsets before it writes the batch, and a fetch in that window returns the
next producer's batch first. The consumer's position then moves past the
unwritten batch for good, although the broker holds it a moment later.

`Offsets` keeps the next expected offset of every assigned partition (the
committed offset, or the log start when the group has none, once the
partition is assigned; then one past each admitted message) and admits
messages in order only:

- a message below it was admitted already (a refetch): dropped;
- a message above it is a gap: that partition's messages from there on
  are dropped and the partition seeks back to the expected offset, so the
  next fetch reads the missing records once the broker has written them.
  The gap is counted (`betreco_offset_gaps_total{topic}`) and logged at
  WARNING when first seen;
- a gap still there after `CONSUMER_GAP_WAIT_SECONDS` and a few refetches
  is accepted (the offsets really are empty: compaction, transaction
  markers on a real cluster) with an ERROR naming the range.

A partition revoked or lost is forgotten (`rebalance.py`), and its
messages not yet stored are dropped (`poll.py`); when it comes back its
expected offset is read from the group's committed offset again, so records
another member stored meanwhile are not stored over with older versions.
"""

import logging
import time
from dataclasses import dataclass

from confluent_kafka import OFFSET_INVALID, KafkaException, TopicPartition

from betreco import metrics
from ingest.kafka.topics import Position, position_of

logger = logging.getLogger(__name__)

MIN_REFETCHES = 3  # a gap is accepted only after it came back this many times, and the wait


@dataclass
class Gap:
    """Offsets [expected, found) of a partition not received yet."""

    expected: int
    found: int
    first_seen: float
    seen: int = 1

    def describe(self, position: Position) -> str:
        topic, partition = position
        return f"{topic}[{partition}] offsets {self.expected}..{self.found - 1}"


class Offsets:
    """Admits a partition's messages in offset order only, seeking back over gaps."""

    def __init__(self, consumer, *, gap_wait: float, broker_timeout=5.0, clock=time.monotonic):
        """`broker_timeout`: the longest a partition's start offset is waited for; the loop
        does not poll meanwhile, so it stays well inside `max.poll.interval.ms`."""
        self.consumer = consumer
        self.gap_wait = gap_wait
        self.broker_timeout = broker_timeout
        self.clock = clock
        self.expected: dict[Position, int] = {}
        self.gaps: dict[Position, Gap] = {}

    def forget(self, positions) -> None:
        """Partitions revoked or lost: their next offset is read again if they come back."""
        for position in positions:
            self.expected.pop(position, None)
            self.gaps.pop(position, None)

    def admit(self, messages: list) -> list:
        """The messages that continue their partitions without a gap, in their order."""
        if not messages:
            return messages
        self._learn_starts({position_of(m) for m in messages} - self.expected.keys())
        admitted, stopped = [], set()
        for message in messages:
            position = position_of(message)
            if position in stopped:
                continue
            if position not in self.expected:  # its start could not be read: fetch it again
                stopped.add(position)
                self._seek(position, message.offset())
                continue
            offset, expected = message.offset(), self.expected[position]
            if offset > expected and not self._accept_gap(position, expected, offset):
                stopped.add(position)
                self._seek(position, expected)
                continue
            if offset >= expected:
                self.expected[position] = offset + 1
                admitted.append(message)
        return admitted

    def _accept_gap(self, position: Position, expected: int, found: int) -> bool:
        gap = self.gaps.get(position)
        now = self.clock()
        if gap is None or gap.expected != expected:
            gap = self.gaps[position] = Gap(expected, found, first_seen=now)
            metrics.OFFSET_GAPS.labels(position[0]).inc()
            logger.warning(
                "%s not received yet: seeking back to read them (the broker may not have "
                "written them yet)",
                gap.describe(position),
            )
            return False
        gap.seen += 1
        gap.found = found
        if gap.seen <= MIN_REFETCHES or now - gap.first_seen < self.gap_wait:
            return False
        logger.error(
            "%s still missing after %.1f s and %d fetches: accepting the gap (on a Kafka "
            "cluster: compacted records or transaction markers)",
            gap.describe(position),
            now - gap.first_seen,
            gap.seen,
        )
        del self.gaps[position]
        return True

    def _learn_starts(self, positions: set[Position]) -> None:
        """Each newly seen partition starts at its committed offset, or the log start."""
        if not positions:
            return
        partitions = [TopicPartition(topic, partition) for topic, partition in positions]
        try:
            committed = self.consumer.committed(partitions, timeout=self.broker_timeout)
            for tp in committed:
                start = tp.offset
                if start == OFFSET_INVALID or start < 0:  # nothing committed: the log start
                    start, _ = self.consumer.get_watermark_offsets(
                        tp, timeout=self.broker_timeout, cached=False
                    )
                self.expected[(tp.topic, tp.partition)] = start
        except KafkaException as error:
            # Unknown start: admit nothing of them now (`admit` seeks back to their messages).
            logger.warning("could not read committed offsets, fetching again: %s", error)

    def _seek(self, position: Position, offset: int) -> None:
        topic, partition = position
        try:
            self.consumer.seek(TopicPartition(topic, partition, offset))
        except KafkaException as error:  # revoked meanwhile: its new owner reads it
            logger.warning("could not seek %s[%d] back to %d: %s", topic, partition, offset, error)
