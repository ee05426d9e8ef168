"""Waiting out an outage: retry one step with capped exponential backoff (docs/consumers.md).

A consumer must neither skip a batch nor crash-loop when the database or
the broker is unavailable for a while, so the step that failed is retried,
the same batch each time, until it succeeds or the process is told to stop.
"""

import logging
import time
from collections.abc import Callable

from django.db import InterfaceError, OperationalError, close_old_connections, connections

logger = logging.getLogger(__name__)

FIRST_DELAY = 0.5
MAX_DELAY = 30.0
DATABASE_UNAVAILABLE = (OperationalError, InterfaceError)


class Stopped(Exception):
    """The process was told to stop while waiting for an outage to end."""


def drop_database_connections() -> None:
    """Close every connection, so the next query opens a fresh one (after an outage)."""
    for connection in connections.all(initialized_only=True):
        try:
            connection.close()
        except DATABASE_UNAVAILABLE:
            logger.debug("closing a broken database connection failed", exc_info=True)
    close_old_connections()


def bound_database_waits(limit_seconds: float) -> None:
    """No query of this process waits longer than about `limit_seconds` for the database.

    A consumer that has not polled for max.poll.interval.ms leaves its group,
    and it cannot poll while a query waits: for SQLite's busy timeout (30 s by
    default) while another process holds the write lock, for a PostgreSQL
    connection to be accepted or a row lock to be released. Bounded, such a
    wait fails like an outage, and `retry` (partitions paused, polling on)
    waits it out. Only ever shortens the configured waits.
    """
    limit = max(int(limit_seconds), 1)
    for connection in connections.all():
        options = connection.settings_dict.setdefault("OPTIONS", {})
        if connection.vendor == "sqlite":
            options["timeout"] = min(options.get("timeout", 5), limit)
        elif connection.vendor == "postgresql":
            options["connect_timeout"] = min(int(options.get("connect_timeout", limit)), limit)
            lock_timeout = f"-c lock_timeout={limit * 1000}"
            options["options"] = f"{options.get('options', '')} {lock_timeout}".strip()
        connection.close()


def sleep_unless_stopped(seconds: float, should_stop: Callable[[], bool]) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if should_stop():
            raise Stopped
        time.sleep(min(0.1, max(deadline - time.monotonic(), 0)))


def retry(
    step: Callable[[], object],
    *,
    what: str,
    retry_on: tuple[type[BaseException], ...],
    should_stop: Callable[[], bool],
    on_failure: Callable[[BaseException], None] = lambda error: None,
    wait: Callable[[float], None] | None = None,
    max_delay: float = MAX_DELAY,
    waiting_for: str | None = None,
):
    """Run `step` until it does not raise one of `retry_on`; raise Stopped if told to stop.

    `on_failure` hears of each failure before the wait; `wait(seconds)`
    replaces the plain sleep, e.g. by one that keeps a Kafka consumer polling
    (`holding.Holding.wait`); what it raises ends the retry.

    Each failure is one log line: "`what` failed (attempt n): error; retrying
    in d s", or with `waiting_for` (e.g. "the Kafka broker at host:9092")
    "waiting for `waiting_for` (attempt n, next in d s): error".
    """
    delay, attempt = FIRST_DELAY, 1
    while True:
        try:
            result = step()
        except retry_on as error:
            on_failure(error)
            if waiting_for:
                logger.warning(
                    "waiting for %s (attempt %d, next in %g s): %s",
                    waiting_for,
                    attempt,
                    delay,
                    error,
                )
            else:
                logger.warning(
                    "%s failed (attempt %d): %s; retrying in %.1fs", what, attempt, error, delay
                )
            if wait is None:
                sleep_unless_stopped(delay, should_stop)
            else:
                wait(delay)
            delay, attempt = min(delay * 2, max_delay), attempt + 1
            continue
        if attempt > 1:
            logger.info("%s succeeded after %d attempts", what, attempt)
        return result
