"""Waiting without leaving the group (ingest/kafka/holding.py), with a fake consumer."""

import threading

import pytest
from confluent_kafka import TopicPartition

from ingest.kafka.holding import Holding, longest_quiet
from tests.ingest.kafka.fakes import PollingConsumer


def test_quick_work_neither_pauses_nor_polls():
    consumer = PollingConsumer()
    holding = Holding(consumer, should_stop=lambda: False)
    result, paused = holding.run_polling(lambda: 42, what="storing", slow_after=5)
    holding.close()
    assert (result, paused) == (42, False)
    assert (consumer.paused, consumer.polls) == (0, 0)


def test_slow_work_pauses_the_partitions_and_polls_until_it_ends():
    consumer = PollingConsumer()
    holding = Holding(consumer, should_stop=lambda: False)
    release = threading.Event()
    consumer.on_poll = release.set  # the work ends once the consumer was polled

    def work():
        release.wait(10)
        return "stored"

    result, paused = holding.run_polling(work, what="storing", slow_after=0.05)
    holding.close()
    assert (result, paused) == ("stored", True)
    assert consumer.paused == consumer.resumed == 1
    assert consumer.polls >= 1


@pytest.mark.parametrize("strategy", ["cooperative-sticky", "range"])
def test_a_partition_assigned_outside_a_hold_is_resumed_whatever_its_last_owner_left(
    settings, strategy
):
    """librdkafka keeps a pause when a partition is taken away: one paused then would
    come back paused, and never be fetched again."""
    settings.KAFKA_ASSIGNMENT_STRATEGY = strategy
    consumer = PollingConsumer(assigned=(("users", 0),))
    holding = Holding(consumer, should_stop=lambda: False)
    holding.assigned([TopicPartition("users", 1), TopicPartition("users", 2)])
    holding.close()
    expected = {0, 1, 2} if strategy == "cooperative-sticky" else {1, 2}
    assert {tp.partition for tp in consumer.assignment()} == expected
    assert (consumer.paused, consumer.resumed) == (0, 1)


def test_a_rebalance_during_a_slow_store_waits_for_the_store_to_finish():
    consumer = PollingConsumer()
    holding = Holding(consumer, should_stop=lambda: False)
    stored = threading.Event()
    seen_in_callback = []

    def rebalance():  # what the consumer's on_revoke does first
        holding.finish_work()
        seen_in_callback.append(stored.is_set())

    consumer.on_poll = rebalance

    def store():
        threading.Event().wait(0.3)
        stored.set()

    holding.run_polling(store, what="storing", slow_after=0.05, finish_before_rebalance=True)
    holding.close()
    assert seen_in_callback == [True]


def test_slow_work_during_a_held_outage_leaves_the_pause_and_the_revocations_to_the_wait():
    consumer = PollingConsumer()
    holding = Holding(consumer, should_stop=lambda: False)
    holding.hold({("users", 0)})
    holding.pause("database unavailable")
    release = threading.Event()

    def revoke_then_release():  # a rebalance served while the retried store runs
        holding.left({("users", 0)})
        release.set()

    consumer.on_poll = revoke_then_release
    holding.run_polling(lambda: release.wait(10), what="storing", slow_after=0.05)
    holding.close()
    assert holding.paused  # the outage's pause is the outage's to end
    assert consumer.resumed == 0
    assert holding.gone & holding.held == {("users", 0)}  # the next wait raises Revoked


def test_a_write_runs_polled_past_the_longest_quiet_and_a_rebalance_waits_for_it(settings):
    settings.KAFKA_MAX_POLL_INTERVAL_MS = settings.KAFKA_SESSION_TIMEOUT_MS = 1  # quiet: 0.5 s
    consumer = PollingConsumer()
    holding = Holding(consumer, should_stop=lambda: False)
    written = threading.Event()
    seen_in_callback = []
    consumer.on_poll = lambda: (holding.finish_work(), seen_in_callback.append(written.is_set()))

    def write():
        threading.Event().wait(0.8)
        written.set()
        return "stored"

    assert holding.run_writing(write, what="storing 5") == "stored"
    holding.close()
    assert seen_in_callback == [True]
    assert longest_quiet() == 0.5
