"""Clear logs (SPEC §6): librdkafka through Python logging, one line per retry, quiet when idle."""

import logging
import signal
import subprocess
import sys
import time

import pytest

from betreco.embedded_broker import free_port
from ingest.kafka import progress as progress_module
from ingest.kafka.logs import LibrdkafkaLines
from ingest.kafka.progress import Progress
from tests.kafka_pipeline import PROJECT_DIR, wait_until

CONNECT_FAILED = (
    "[thrd:127.0.0.1:1/bootstrap]: 127.0.0.1:1/bootstrap: Connect to ipv4#127.0.0.1:1 "
    "failed: Connection refused (after {ms}ms in state CONNECT)"
)


def librdkafka_record(facility: str, text: str, level: int = logging.ERROR):
    """A record as confluent-kafka logs it."""
    return logging.LogRecord(
        "ingest.kafka.librdkafka", level, __file__, 0, "%s [%s] %s",
        (facility, "rdkafka#producer-1", text), None,
    )  # fmt: skip


def test_librdkafka_lines_lose_the_client_and_thread_names():
    record = librdkafka_record("CONFWARN", "[thrd:app]: Configuration property x is deprecated")
    assert LibrdkafkaLines().filter(record)
    assert record.getMessage() == "CONFWARN: Configuration property x is deprecated"
    assert record.levelno == logging.ERROR  # only connection failures change level


def test_a_connection_failure_is_logged_once_a_minute_as_a_warning():
    lines = LibrdkafkaLines(interval=60)
    records = [librdkafka_record("FAIL", CONNECT_FAILED.format(ms=ms)) for ms in (0, 1, 2)]
    passed = [record for record in records if lines.filter(record)]
    assert passed == records[:1]
    assert passed[0].levelname == "WARNING"
    assert passed[0].getMessage().startswith("FAIL: 127.0.0.1:1/bootstrap: Connect to")
    # Another failure (an SSL handshake, say) is news: it passes too.
    assert lines.filter(librdkafka_record("FAIL", "[thrd:x]: SSL handshake failed"))


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


@pytest.fixture
def clock(monkeypatch):
    fake = Clock()
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


def test_without_a_broker_a_consumer_logs_a_line_per_retry_naming_the_servers(tmp_path):
    servers = f"127.0.0.1:{free_port()}"  # nothing listens there
    process = subprocess.Popen(
        [sys.executable, "manage.py", "consume_topic", "users"],
        cwd=PROJECT_DIR,
        env={
            "PATH": "/usr/bin:/bin",
            "DJANGO_SETTINGS_MODULE": "betreco.settings",
            "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
            "KAFKA_BOOTSTRAP_SERVERS": servers,
            "PYTHONUNBUFFERED": "1",
        },
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    time.sleep(6)
    process.send_signal(signal.SIGTERM)
    output, _ = process.communicate(timeout=30)
    assert process.returncode == 0, output
    lines = output.splitlines()
    assert not [line for line in lines if "rdkafka#" in line or "|FAIL|" in line], output
    retries = [line for line in lines if f"waiting for the Kafka broker at {servers}" in line]
    assert retries, output
    assert "(attempt 1, next in 0.5 s)" in retries[0]
    assert len(lines) <= 10, output


@pytest.mark.kafka
@pytest.mark.django_db(transaction=True)
def test_an_idle_consumer_logs_no_progress_line(pipeline):
    consumer = pipeline.start_consumer("users")
    wait_until(lambda: "assigned" in consumer.log, what="the consumer to join its group")
    time.sleep(10)  # twice the progress interval while records flow
    consumer.signal(signal.SIGTERM)
    assert consumer.wait() == 0, consumer.log
    assert "progress:" not in consumer.log
    assert "rdkafka#" not in consumer.log
