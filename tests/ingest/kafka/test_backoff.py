"""Waiting out an outage (ingest/kafka/backoff.py): the same step again, less and less often."""

import logging
import time

import pytest
from django.db import OperationalError

from ingest.kafka.backoff import FIRST_DELAY, Stopped, retry


class FlakyStep:
    """Fails `failures` times with `error`, then returns "stored"."""

    def __init__(self, failures: int, error: Exception | None = None):
        self.failures, self.calls = failures, 0
        self.error = error or OperationalError("the database is down")

    def __call__(self):
        self.calls += 1
        if self.calls <= self.failures:
            raise self.error
        return "stored"


class Waits:
    """Stands in for the sleep between attempts; keeps each delay asked for."""

    def __init__(self):
        self.delays: list[float] = []

    def __call__(self, seconds: float):
        self.delays.append(seconds)


def retried(step, **options):
    options = {"what": "storing", "retry_on": (OperationalError,), "should_stop": bool} | options
    return retry(step, **options)


def test_a_failing_step_is_retried_until_it_works_and_its_result_returned():
    step, waits, heard = FlakyStep(failures=2), Waits(), []
    assert retried(step, wait=waits, on_failure=heard.append) == "stored"
    assert step.calls == 3
    assert [str(error) for error in heard] == ["the database is down"] * 2


def test_the_wait_doubles_after_each_failure_up_to_its_cap():
    waits = Waits()
    retried(FlakyStep(failures=6), wait=waits, max_delay=4)
    assert waits.delays == [FIRST_DELAY, 1, 2, 4, 4, 4]


def test_an_error_it_was_not_told_to_retry_is_raised_at_once():
    step = FlakyStep(failures=1, error=ValueError("a bug"))
    with pytest.raises(ValueError, match="a bug"):
        retried(step, wait=Waits())
    assert step.calls == 1


def test_a_stop_request_ends_the_wait_with_stopped_without_trying_again():
    step = FlakyStep(failures=5)
    started = time.monotonic()
    with pytest.raises(Stopped):
        retried(step, should_stop=lambda: True)  # the plain sleep, which looks for the request
    assert step.calls == 1
    assert time.monotonic() - started < FIRST_DELAY


def test_what_the_wait_raises_ends_the_retry():
    def wait(seconds):
        raise Stopped

    step = FlakyStep(failures=5)
    with pytest.raises(Stopped):
        retried(step, wait=wait)
    assert step.calls == 1


def test_each_failure_is_one_warning_naming_the_attempt_and_the_next_wait(caplog):
    with caplog.at_level(logging.INFO, logger="ingest.kafka.backoff"):
        retried(FlakyStep(failures=2), wait=Waits())
    assert [(r.levelname, r.getMessage()) for r in caplog.records] == [
        ("WARNING", "storing failed (attempt 1): the database is down; retrying in 0.5s"),
        ("WARNING", "storing failed (attempt 2): the database is down; retrying in 1.0s"),
        ("INFO", "storing succeeded after 3 attempts"),
    ]


def test_waiting_for_a_server_names_it_in_each_line(caplog):
    with caplog.at_level(logging.WARNING, logger="ingest.kafka.backoff"):
        retried(FlakyStep(failures=1), wait=Waits(), waiting_for="the Kafka broker at k:9092")
    assert caplog.messages == [
        "waiting for the Kafka broker at k:9092 (attempt 1, next in 0.5 s): the database is down"
    ]
