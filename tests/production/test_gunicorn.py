"""docker/gunicorn.conf.py with several workers: one server's metrics, one throttle for all.

Real gunicorn servers on 127.0.0.1, as `make run` and compose start them:
`/metrics` sums every worker whichever answers, and DRF's throttle counts
live in the cache folder the servers share, so workers and servers refuse
together.
"""

import os
import re
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from betreco import processes
from betreco.embedded_broker import free_port
from ingest.kafka.topics import RECORD_KINDS as KINDS
from tests.prometheus import label_sets, value

START_TIMEOUT = 60.0


def get(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            response.read()
            return response.status
    except urllib.error.HTTPError as error:
        return error.code
    except (urllib.error.URLError, ConnectionError):
        return 0


class Server:
    """`gunicorn --config docker/gunicorn.conf.py betreco.wsgi`; its access log names the pid."""

    def __init__(self, tmp_path: Path, name: str, **env: str):
        self.port = free_port()
        environment = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "betreco.settings",
            "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
            "KAFKA_BOOTSTRAP_SERVERS": f"127.0.0.1:{free_port()}",  # no broker needed
            "HOST": "127.0.0.1",
            "PORT": str(self.port),
            "GUNICORN_THREADS": "1",
            "GUNICORN_CMD_ARGS": "--access-logformat 'pid=%(p)s %(r)s %(s)s'",
            **env,
        }
        environment.pop("PROMETHEUS_MULTIPROC_DIR", None)
        argv = processes.gunicorn_argv()
        self.process = processes.start(name, argv, environment, tmp_path / f"{name}.log")

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    @property
    def log(self) -> str:
        return self.process.log

    def wait_ready(self, workers: int) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            assert self.process.alive(), f"gunicorn exited:\n{self.log}"
            booted = len(re.findall(r"Booting worker with pid", self.log))
            if booted >= workers and get(self.url("/healthz")) == 200:
                return
            time.sleep(0.2)
        pytest.fail(f"gunicorn not ready in {START_TIMEOUT}s:\n{self.log}")

    def pids_that_answered(self, path: str) -> set[str]:
        return set(re.findall(rf"pid=<(\d+)> GET {re.escape(path)} ", self.log))

    def stop(self) -> None:
        self.process.stop(grace=30)


@pytest.fixture
def servers(tmp_path):
    started: list[Server] = []

    def start(name: str, workers: int, **env: str) -> Server:
        server = Server(tmp_path, name, WEB_CONCURRENCY=str(workers), **env)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture
def migrated_database(tmp_path):
    """A migrated SQLite file of the servers' own (the migrations create the cache table)."""
    processes.migrate(
        {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "betreco.settings",
            "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        }
    )


def test_metrics_count_the_requests_of_every_worker_whichever_answers(servers, kafka_bootstrap):
    server = servers("api", workers=2, KAFKA_BOOTSTRAP_SERVERS=kafka_bootstrap)
    server.wait_ready(workers=2)

    sent = 0
    with ThreadPoolExecutor(8) as pool:  # concurrent, so both workers take some
        while len(server.pids_that_answered("/healthz?n")) < 2 and sent < 400:
            codes = list(pool.map(lambda _: get(server.url("/healthz?n")), range(40)))
            assert codes == [200] * 40
            sent += 40
    assert len(server.pids_that_answered("/healthz?n")) == 2, server.log

    for _ in range(6):  # whichever worker answers /metrics reads the server's total
        with urllib.request.urlopen(server.url("/metrics"), timeout=10) as response:
            text = response.read().decode()
        count = value(text, "betreco_http_requests_total", view="healthz", status="200")
        assert count == sent + 1  # and the readiness probe's one


@pytest.mark.parametrize("role", ["api", "producer"])
def test_a_fresh_server_shows_every_topic_series_at_zero_and_only_to_its_token(servers, role):
    token = "scrape-" + "t" * 24
    production = {"DEBUG": "0", "SECRET_KEY": "m" * 50, "SECURE_SSL_REDIRECT": "0"}
    server = servers(role, workers=1, BETRECO_ROLE=role, METRICS_TOKEN=token, **production)
    server.wait_ready(workers=1)

    assert get(server.url("/metrics")) == 401
    request = urllib.request.Request(
        server.url("/metrics"), headers={"Authorization": f"Bearer {token}"}
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        text = response.read().decode()
    for name in ("betreco_produced_records_total", "betreco_produce_failures_total"):
        assert {labels["topic"] for labels in label_sets(text, name)} == set(KINDS), name
        assert value(text, name) == 0


def test_the_metrics_folder_is_the_servers_own_and_removed_when_it_stops(servers):
    server = servers("api", workers=1)
    server.wait_ready(workers=1)
    folder = re.search(r"metrics in (\S+)", server.log)
    assert folder, server.log
    assert any(Path(folder[1]).glob("*.db"))

    server.stop()

    assert not Path(folder[1]).exists()


def test_the_anonymous_throttle_is_shared_by_every_server_of_the_host(
    servers, migrated_database, tmp_path
):
    production = {
        "DEBUG": "0",
        "SECRET_KEY": "throttle-test-" + "x" * 40,
        "SECURE_SSL_REDIRECT": "0",
        "PUBLIC_READS": "1",
        "THROTTLE_ANON_RATE": "4/minute",
        "CACHE_URL": f"filecache://{tmp_path / 'throttle-cache'}",
    }
    first = servers("first", workers=1, **production)
    second = servers("second", workers=1, **production)
    first.wait_ready(workers=1)
    second.wait_ready(workers=1)

    from_first = [get(first.url("/users")) for _ in range(3)]
    from_second = [get(second.url("/users")) for _ in range(3)]

    # With a cache per process the second server would let 3 more through.
    assert from_first == [200, 200, 200]
    assert from_second == [200, 429, 429]
