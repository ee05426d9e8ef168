"""Draining outboxes after the consumer's commits (docs/consumers.md): a visible step of the loop.

Work owed after a batch's commit (recommendation refreshes) is written in
the batch's own transaction by its owner; the consumer only drains it, by
the drains registered through `ingest.hooks`, so ingest never imports what
reads its data. Offsets do not wait for a drain: what it owes is already
durable. While messages flow in full batches, drains are coalesced (one
every `CONSUMER_DRAIN_INTERVAL` seconds); as soon as the flow pauses, the
next drain runs at once.

A drain may run long (a full rebuild taken over): the loop runs `drain` in
its worker thread, polled beside (`Holding.run_polling`), and its
`should_stop` is passed on to the drains (`betreco.stopping`), so a
consumer told to stop has its drain return at its next safe point and exits
within its grace period, leaving the rest owed in the database.
"""

import logging
import time
from collections.abc import Callable

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import DatabaseError

from betreco import metrics
from betreco.stopping import stoppable
from ingest import hooks
from ingest.kafka.backoff import DATABASE_UNAVAILABLE, drop_database_connections

logger = logging.getLogger(__name__)


class OutboxDrains:
    """Runs the registered drains when due; a failed drain waits for the next turn."""

    def __init__(
        self,
        drains: list[Callable[[], object]] | None = None,
        interval: float | None = None,
        should_stop: Callable[[], bool] = lambda: False,
    ):
        """`should_stop()` turning true asks a running drain to return early."""
        if drains is None:
            drains = hooks.registered_drains()
            if not drains:
                raise ImproperlyConfigured(
                    "no outbox drain is registered (ingest.hooks.register_drain): this consumer "
                    "would store records and never refresh what depends on them; is "
                    "'recommendations' in INSTALLED_APPS?"
                )
        self.drains = drains
        self.interval = settings.CONSUMER_DRAIN_INTERVAL if interval is None else interval
        self.last_run = float("-inf")
        self.seconds = 0.0  # time spent draining, for the closing line
        self.should_stop = should_stop

    def due(self, *, flow_paused: bool) -> bool:
        """After a batch's commit: drain now if the flow paused or the interval has passed."""
        return flow_paused or time.monotonic() - self.last_run >= self.interval

    def drain(self) -> None:
        """Drain every outbox now (at start, after batches, when idle), in the calling thread."""
        started = time.monotonic()
        self.last_run = started
        with stoppable(self.should_stop):  # set in the thread the drains run in
            self._drain_each()
        self.seconds += time.monotonic() - started

    def _drain_each(self) -> None:
        for drain in self.drains:
            drain_started = time.perf_counter()
            try:
                drain()
            except DATABASE_UNAVAILABLE as error:
                logger.warning("outbox not drained, the database is unavailable: %s", error)
                drop_database_connections()
            except DatabaseError as error:  # e.g. a lock timeout: the rows wait for next time
                logger.warning("outbox not drained this time: %s", error)
            metrics.OUTBOX_DRAIN_DURATION.labels(_name(drain)).observe(
                time.perf_counter() - drain_started
            )


def _name(drain: Callable) -> str:
    """A drain's dotted path (the metric's label)."""
    return f"{getattr(drain, '__module__', '?')}.{getattr(drain, '__qualname__', repr(drain))}"
