"""Poll (ingest/kafka/poll.py): a batch collected in offset order; rebalances and gaps in it."""

import logging

import pytest
from confluent_kafka import KafkaError, KafkaException

from ingest.kafka.offsets import Offsets
from ingest.kafka.poll import Poller
from tests.ingest.kafka.fakes import FakeMessage, ScriptedConsumer, messages, offsets_of


def poller_of(consumer, stopping=()) -> Poller:
    return Poller(
        consumer, Offsets(consumer, gap_wait=5), poll_timeout=5, should_stop=lambda: bool(stopping)
    )


class Failed(FakeMessage):
    """A message that carries a Kafka error instead of a record."""

    def __init__(self, code, *, fatal=False):
        super().__init__("users", 0, 0)
        self._error = KafkaError(code, "broken", fatal=fatal)

    def error(self):
        return self._error


def test_a_batch_fills_while_messages_come_and_is_handed_over_once_a_call_brings_none():
    consumer = ScriptedConsumer([messages("users", 0, [0, 1]), messages("users", 0, [2]), []])
    batch = poller_of(consumer).collect(limit=100)
    assert offsets_of(batch.messages) == [("users", 0, 0), ("users", 0, 1), ("users", 0, 2)]
    assert (batch.fetched, consumer.calls) == (3, 3)


def test_a_batch_stops_at_its_limit():
    consumer = ScriptedConsumer([messages("users", 0, [0, 1, 2])])
    batch = poller_of(consumer).collect(limit=3)
    assert (batch.size, consumer.calls) == (3, 1)


def test_a_gap_in_a_fetch_collects_only_what_came_before_it():
    consumer = ScriptedConsumer([messages("users", 0, [0, 1, 7, 8])])
    batch = poller_of(consumer).collect(limit=100)
    assert offsets_of(batch.messages) == [("users", 0, 0), ("users", 0, 1)]
    assert consumer.seeks == [("users", 0, 2)]
    assert batch.fetched == 4


def test_messages_collected_of_a_partition_that_left_are_dropped():
    consumer = ScriptedConsumer(
        [messages("users", 0, [0, 1]) + messages("users", 1, [0]), messages("users", 1, [1])]
    )
    poller = poller_of(consumer)
    consumer.before = {2: lambda: poller.forget({("users", 0)})}
    batch = poller.collect(limit=100)
    assert offsets_of(batch.messages) == [("users", 1, 0), ("users", 1, 1)]


def test_a_consumer_told_to_stop_collects_nothing_more():
    consumer = ScriptedConsumer([messages("users", 0, [0])])
    batch = poller_of(consumer, stopping=[True]).collect(limit=100)
    assert (batch.size, consumer.calls) == (0, 0)


def test_the_end_of_a_partition_is_no_error_and_others_are_logged(caplog):
    consumer = ScriptedConsumer(
        [[Failed(KafkaError._PARTITION_EOF), Failed(KafkaError._BAD_MSG)], []]
    )
    with caplog.at_level(logging.WARNING):
        batch = poller_of(consumer).collect(limit=100)
    assert batch.messages == []
    assert [record.message.count("broken") for record in caplog.records] == [1]


def test_a_fatal_error_ends_the_loop():
    consumer = ScriptedConsumer([[Failed(KafkaError._FATAL, fatal=True)]])
    with pytest.raises(KafkaException):
        poller_of(consumer).collect(limit=100)
