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


def lag_by_topic(
    consumer: Consumer, partitions: list, timeout: float, *, cached: bool = False
) -> dict[str, TopicLag]:
    """Per topic: end offset, committed offset and lag of the consumer's group over `partitions`.

    `cached`: use the end offsets of the consumer's last fetch responses
    (free, for a consumer's own progress line) instead of asking the broker
    per partition, which waits behind the consumer's long-polling fetches.
    """
    report: dict[str, TopicLag] = {}
    if not partitions:
        return report
    for committed in consumer.committed(partitions, timeout=timeout):
        low, high = consumer.get_watermark_offsets(
            TopicPartition(committed.topic, committed.partition), timeout=timeout, cached=cached
        )
        if high < 0:  # nothing fetched from this partition yet
            continue
        done = committed.offset if committed.offset >= 0 else low
        row = report.setdefault(committed.topic, TopicLag(committed.topic))
        row.end += high
        row.committed += done
        row.lag += max(high - done, 0)
    return report
