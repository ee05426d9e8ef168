"""Progress lines (ingest/kafka/progress.py): every interval while records flow, rarely idle."""

import logging

import pytest

from ingest.kafka import progress as progress_module
from ingest.kafka.progress import Progress
from tests.ingest.kafka.fakes import Clock


@pytest.fixture
def clock(monkeypatch):
    fake = Clock(1000.0)
    monkeypatch.setattr(progress_module.time, "monotonic", fake)
    return fake


def progress_lines(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.getMessage().startswith("progress:")]


def test_progress_is_logged_every_interval_while_records_flow(clock, caplog):
    caplog.set_level(logging.INFO)
    progress = Progress(interval=5, idle_interval=60)
    for _ in range(3):
        clock.now += 5
        progress.batch_done(100, 0)
        progress.maybe_log(lambda: {"users": 0}, lambda: 0)
    assert len(progress_lines(caplog)) == 3


def test_an_idle_consumer_logs_progress_once_per_idle_interval(clock, caplog):
    caplog.set_level(logging.INFO)
    progress = Progress(interval=5, idle_interval=60)
    for _ in range(59):  # a minute of nothing, asked every second
        clock.now += 1
        progress.maybe_log(lambda: {}, lambda: 0)
    assert progress_lines(caplog) == []
    clock.now += 1
    progress.maybe_log(lambda: {}, lambda: 0)
    assert len(progress_lines(caplog)) == 1


def test_a_consumer_without_partitions_does_not_claim_a_lag_of_0(clock, caplog):
    caplog.set_level(logging.INFO)
    progress = Progress(interval=5, idle_interval=60)
    clock.now += 60
    progress.maybe_log(lambda: {}, lambda: 0)
    clock.now += 60
    progress.maybe_log(lambda: {"users": 0, "events": 7}, lambda: 0)
    idle, assigned = progress_lines(caplog)
    assert "lag - (no partitions)" in idle
    assert "lag 7 (events 7, users 0)" in assigned
