"""Collecting a batch (ConsumerLoop._collect): rebalances during it, gaps in it."""

from confluent_kafka import TopicPartition

from ingest.kafka.consumer import ConsumerLoop, ConsumerOptions
from ingest.kafka.holding import Holding
from ingest.kafka.offsets import Offsets
from tests.ingest.kafka.fakes import FakeConsumer, messages, offsets_of


class ScriptedConsumer(FakeConsumer):
    """Hands out one scripted fetch per consume() call, running a callback before some."""

    def __init__(self, fetches, before=None, **kwargs):
        super().__init__(**kwargs)
        self.fetches = list(fetches)
        self.before = before or {}
        self.calls = 0

    def consume(self, limit, timeout):
        self.calls += 1
        if self.calls in self.before:
            self.before[self.calls]()
        return self.fetches.pop(0) if self.fetches else []

    def assignment(self):
        return []


def loop_over(consumer) -> ConsumerLoop:
    loop = ConsumerLoop(ConsumerOptions(topics=["users"], batch_size=100, poll_timeout=5))
    loop.consumer = consumer
    loop.holding = Holding(consumer, should_stop=loop.should_stop)
    loop.offsets = Offsets(consumer, gap_wait=5)
    return loop


def test_messages_collected_before_their_partition_was_revoked_are_not_stored():
    consumer = ScriptedConsumer(
        [messages("users", 0, [0, 1]) + messages("users", 1, [0]), messages("users", 1, [1])],
        before={2: lambda: loop._revoked(consumer, [TopicPartition("users", 0)])},
    )
    loop = loop_over(consumer)
    batch = loop._collect(limit=100)
    assert offsets_of(batch.messages) == [("users", 1, 0), ("users", 1, 1)]
    assert batch.fetched == 4


def test_a_partition_given_back_in_the_same_collect_resumes_at_the_new_committed_offset():
    consumer = ScriptedConsumer(
        [messages("users", 0, [0, 1]), messages("users", 0, [2, 5])],
        committed={("users", 0): 0},
    )

    def revoke_and_give_back():
        loop._revoked(consumer, [TopicPartition("users", 0)])
        consumer.committed_offsets[("users", 0)] = 5  # another member stored 0..4 meanwhile

    consumer.before = {2: revoke_and_give_back}
    loop = loop_over(consumer)
    batch = loop._collect(limit=100)
    assert offsets_of(batch.messages) == [("users", 0, 5)]


def test_a_gap_in_a_fetch_collects_only_what_came_before_it():
    consumer = ScriptedConsumer([messages("users", 0, [0, 1, 7, 8])])
    loop = loop_over(consumer)
    batch = loop._collect(limit=100)
    assert offsets_of(batch.messages) == [("users", 0, 0), ("users", 0, 1)]
    assert consumer.seeks == [("users", 0, 2)]
    assert batch.fetched == 4
