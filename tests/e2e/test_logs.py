"""A consumer process's logs (docs/operations.md): one line per retry, quiet when idle."""

import signal
import time

import pytest

from betreco import processes
from betreco.embedded_broker import free_port
from tests.kafka_pipeline import wait_until


def test_without_a_broker_a_consumer_logs_a_line_per_retry_naming_the_servers(tmp_path):
    servers = f"127.0.0.1:{free_port()}"  # nothing listens there
    env = {
        "PATH": "/usr/bin:/bin",
        "DJANGO_SETTINGS_MODULE": "betreco.settings",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "KAFKA_BOOTSTRAP_SERVERS": servers,
        "PYTHONUNBUFFERED": "1",
    }
    consumer = processes.start_consumer("consumer", ["users"], env, tmp_path / "consumer.log")
    time.sleep(6)
    code = consumer.stop(grace=30)
    output = consumer.log
    assert code == 0, output
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
