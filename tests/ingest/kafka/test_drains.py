"""The consumer's outbox drains: at once when the flow pauses, coalesced while it is high."""

import logging
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.db import OperationalError

from betreco.stopping import stop_requested
from ingest import hooks
from ingest.kafka.consumer import ConsumerLoop, ConsumerOptions
from ingest.kafka.drains import OutboxDrains
from recommendations.outbox import refresh_pending


class Drain:
    def __init__(self, fail_times=0):
        self.calls, self.fail_times = 0, fail_times

    def __call__(self):
        self.calls += 1
        if self.calls <= self.fail_times:
            raise OperationalError("the database is down")


def after_batch(drains: OutboxDrains, *, flow_paused: bool) -> None:
    """What the loop does after a batch's commit."""
    if drains.due(flow_paused=flow_paused):
        drains.drain()


def test_a_drain_runs_after_every_batch_once_the_flow_pauses():
    drain = Drain()
    drains = OutboxDrains([drain], interval=3600)
    drains.drain()  # at start
    for _ in range(3):
        after_batch(drains, flow_paused=True)
    assert drain.calls == 4


def test_full_batches_are_coalesced_into_one_drain_per_interval():
    drain = Drain()
    drains = OutboxDrains([drain], interval=3600)
    drains.drain()
    for _ in range(10):
        after_batch(drains, flow_paused=False)
    assert drain.calls == 1
    after_batch(drains, flow_paused=True)
    assert drain.calls == 2


def test_full_batches_still_drain_once_the_interval_has_passed():
    drain = Drain()
    drains = OutboxDrains([drain], interval=0)
    after_batch(drains, flow_paused=False)
    after_batch(drains, flow_paused=False)
    assert drain.calls == 2


def test_a_drain_that_fails_is_logged_and_tried_again_next_turn(caplog):
    drain = Drain(fail_times=1)
    drains = OutboxDrains([drain], interval=3600)
    with caplog.at_level(logging.WARNING):
        drains.drain()
    assert "outbox not drained, the database is unavailable" in caplog.text
    after_batch(drains, flow_paused=True)
    assert drain.calls == 2


def test_a_drain_is_asked_to_stop_once_the_consumer_is():
    """Also from the worker thread a consumer runs its drains in."""
    stopping = []
    asked = []
    worker = ThreadPoolExecutor(max_workers=1)
    drains = OutboxDrains(
        [lambda: asked.append(stop_requested())],
        interval=3600,
        should_stop=lambda: bool(stopping),
    )
    worker.submit(drains.drain).result()
    stopping.append(True)
    worker.submit(drains.drain).result()
    worker.shutdown()
    assert asked == [False, True]
    assert not stop_requested()  # outside a drain, nothing asks


def test_a_consumer_runs_the_recommendation_refresh_without_any_setting():
    """Recommendations registers its drain with ingest's hook; nothing can switch it off."""
    loop = ConsumerLoop(ConsumerOptions(topics=["users"]))
    assert refresh_pending in loop.drains.drains


def test_a_consumer_refuses_to_start_without_a_drain(monkeypatch):
    monkeypatch.setattr(hooks, "_drains", [])
    with pytest.raises(ImproperlyConfigured, match="no outbox drain is registered"):
        OutboxDrains()
