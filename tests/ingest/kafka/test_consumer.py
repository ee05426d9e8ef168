"""The loop (ingest/kafka/consumer.py) driving one batch through its steps, with fakes.

The steps have tests of their own; these check that the driver hands a
batch on in order, each step once, and what comes out at the end. Through a
real broker: tests/e2e/test_consumer.py.
"""

import threading
import time

import pytest

from ingest.kafka import consumer as consumer_module
from ingest.kafka.consumer import ConsumerLoop, ConsumerOptions
from ingest.models import DeadLetter, User
from tests.ingest.kafka.fakes import FakeProducer, ScriptedConsumer, record_message
from tests.records import user

pytestmark = pytest.mark.django_db(transaction=True)  # the steps write in a worker thread


class GroupConsumer(ScriptedConsumer):
    """A scripted consumer that owns users[0] and pauses, resumes and polls like a real one."""

    def __init__(self, fetches):
        super().__init__(fetches, assigned=[("users", 0)])


def joined(fetches) -> tuple[ConsumerLoop, GroupConsumer]:
    loop = ConsumerLoop(ConsumerOptions(topics=["users"], batch_size=100, poll_timeout=0.3))
    loop.producer = FakeProducer()
    consumer = GroupConsumer(fetches)
    loop._join(consumer)
    return loop, consumer


def walked(loop: ConsumerLoop) -> list[str]:
    """Records which step each call of the iteration went to, in order."""
    steps = []
    for owner, name in [
        (loop.poller, "collect"),
        (loop.store, "store"),
        (loop.dead_letters, "publish"),
        (loop.partitions, "commit"),
        (loop.drains, "drain"),
        (loop.parked, "run"),
        (loop.figures, "after_iteration"),
    ]:
        setattr(owner, name, _recording(steps, owner, name))
    return steps


def _recording(steps: list[str], owner, name: str):
    step, called = getattr(owner, name), f"{type(owner).__name__}.{name}"

    def recorded(*args, **kwargs):
        steps.append(called)
        return step(*args, **kwargs)

    return recorded


def test_one_batch_walks_the_steps_in_order_each_once():
    batch = [record_message("users", 0, 0, user(1)), record_message("users", 0, 1, b"nope")]
    loop, consumer = joined([batch, []])
    loop.parked.next_run = float("inf")  # no upkeep due in this iteration
    steps = walked(loop)
    loop._iteration()
    loop._close()
    assert steps == [
        "Poller.collect",
        "Store.store",
        "DeadLetterPublisher.publish",
        "Partitions.commit",
        "OutboxDrains.drain",  # the flow paused: at once
        "Figures.after_iteration",
        "Partitions.commit",  # closing
    ]


def test_a_batch_is_stored_dead_lettered_and_committed():
    batch = [record_message("users", 0, 0, user(1)), record_message("users", 0, 1, b"nope")]
    loop, consumer = joined([batch, []])
    loop._iteration()
    loop._close()
    assert list(User.objects.values_list("pk", flat=True)) == [1]
    assert DeadLetter.objects.get().offset == 1
    assert [m["topic"] for m in loop.producer.published] == ["users.dlq"]
    assert consumer.commits == [{("users", 0): 2}]
    assert loop.consumed == 2
    assert loop.figures.progress.total == 2


def test_an_iteration_without_messages_commits_what_an_earlier_one_could_not():
    batch = [record_message("users", 0, 0, user(1))]
    loop, consumer = joined([batch, [], []])
    consumer.refuse_commits = True
    loop._iteration()
    assert consumer.commits == []
    consumer.refuse_commits = False
    loop._iteration()
    loop._close()
    assert consumer.commits == [{("users", 0): 1}]


def test_a_loop_stops_after_max_messages():
    loop, _ = joined([])
    loop.options.max_messages = 2
    loop.consumed = 2
    assert loop._finished()


def test_closing_gives_up_on_a_broker_that_never_lets_the_consumer_leave(monkeypatch, caplog):
    """librdkafka's close has no bound of its own (a join held through a rebalance)."""
    loop, consumer = joined([[]])
    released = threading.Event()
    consumer.close = lambda: released.wait(30)
    monkeypatch.setattr(consumer_module, "LEAVE_TIMEOUT", 0.2)
    started = time.monotonic()
    try:
        loop._close()
        assert time.monotonic() - started < 5
    finally:
        released.set()
    assert not loop.left_group
    assert "exiting without it" in caplog.text
