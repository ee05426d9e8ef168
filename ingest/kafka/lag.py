"""Consumer-group lag: how far a group's committed offsets trail the end of each topic."""

from collections.abc import Iterable
from dataclasses import dataclass

from confluent_kafka import Consumer, TopicPartition


@dataclass
class TopicLag:
    topic: str
    end: int = 0  # the high watermark, summed over partitions
    committed: int = 0  # the group's committed offsets, summed (none counts as the low watermark)
    lag: int = 0


def topic_partitions(consumer: Consumer, topics: Iterable[str], timeout: float) -> list:
    """Every partition of `topics` that the broker knows."""
    metadata = consumer.list_topics(timeout=timeout)
    return [
        TopicPartition(topic, partition)
        for topic in topics
        if topic in metadata.topics
        for partition in sorted(metadata.topics[topic].partitions)
    ]


@dataclass(frozen=True)
class PartitionLag:
    topic: str
    partition: int
    end: int  # the high watermark
    committed: int  # the group's committed offset (none counts as the low watermark)

    @property
    def lag(self) -> int:
        return max(self.end - self.committed, 0)


def lag_by_partition(
    consumer: Consumer, partitions: list, timeout: float, *, cached: bool = False
) -> list[PartitionLag]:
    """End offset, committed offset and lag of the consumer's group, per partition.

    `cached`: use the end offsets of the consumer's last fetch responses
    (free, for a consumer's own progress line and reports) instead of asking
    the broker per partition, which waits behind the consumer's long-polling
    fetches. Partitions nothing was fetched from yet are left out.
    """
    rows = []
    if not partitions:
        return rows
    for committed in consumer.committed(partitions, timeout=timeout):
        low, high = consumer.get_watermark_offsets(
            TopicPartition(committed.topic, committed.partition), timeout=timeout, cached=cached
        )
        if high < 0:  # nothing fetched from this partition yet
            continue
        done = committed.offset if committed.offset >= 0 else low
        rows.append(PartitionLag(committed.topic, committed.partition, high, done))
    return rows


def by_topic(rows: Iterable[PartitionLag]) -> dict[str, TopicLag]:
    """Partitions' lag summed per topic."""
    report: dict[str, TopicLag] = {}
    for row in rows:
        total = report.setdefault(row.topic, TopicLag(row.topic))
        total.end += row.end
        total.committed += row.committed
        total.lag += row.lag
    return report


def lag_by_topic(
    consumer: Consumer, partitions: list, timeout: float, *, cached: bool = False
) -> dict[str, TopicLag]:
    """Per topic: end offset, committed offset and lag of the consumer's group over `partitions`."""
    return by_topic(lag_by_partition(consumer, partitions, timeout, cached=cached))
