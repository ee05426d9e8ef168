"""`python -m betreco.stack` (make run): the pipeline up, a record through it, a clean stop."""

import contextlib
import json
import os
import signal
import sys
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import pytest

from betreco import processes
from betreco.embedded_broker import free_port
from betreco.stack import consumer_processes

pytestmark = pytest.mark.kafka

START_TIMEOUT = 90.0
STOP_TIMEOUT = 60.0


class RunningStack:
    def __init__(self, tmp_path: Path):
        self.api_port, self.producer_port = free_port(), free_port()
        prefix = f"stack-{uuid.uuid4().hex[:8]}-"
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "betreco.settings",
            "DATABASE_URL": f"sqlite:///{tmp_path / 'stack.sqlite3'}",
            "PORT": str(self.api_port),
            "PRODUCER_PORT": str(self.producer_port),
            "KAFKA_PORT": str(free_port()),
            "KAFKA_TOPIC_PREFIX": prefix,
            "KAFKA_CONSUMER_GROUP": f"{prefix}group",
            "WEB_CONCURRENCY": "1",
            "GUNICORN_THREADS": "2",
        }
        argv = [sys.executable, "-m", "betreco.stack"]
        self.process = processes.start("stack", argv, env, tmp_path / "stack.log")

    @property
    def log(self) -> str:
        return self.process.log

    def request(self, port: int, path: str, body=None) -> tuple[int, dict]:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}{path}",
            data=data,
            headers={"Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read() or b"{}")
        except (urllib.error.URLError, ConnectionError):
            return 0, {}

    def wait_for(self, port: int, path: str, timeout: float = START_TIMEOUT) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process.alive(), f"the stack exited early:\n{self.log}"
            code, body = self.request(port, path)
            if code == 200:
                return body
            time.sleep(0.25)
        pytest.fail(f"no 200 from :{port}{path} in {timeout}s; the stack's log:\n{self.log}")

    def descendants(self) -> list[int]:
        """Every process below the stack (children and their workers), from /proc."""
        parents = {}
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    stat = (entry / "stat").read_text()
                except OSError:
                    continue
                parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
        found, frontier = [], [self.process.pid]
        while frontier:
            parent = frontier.pop()
            children = [pid for pid, ppid in parents.items() if ppid == parent]
            found += children
            frontier += children
        return found

    def stop(self, signum: int) -> int:
        self.process.signal(signum)
        try:
            return self.process.wait(STOP_TIMEOUT)
        except TimeoutError:
            self.kill()
            pytest.fail(f"the stack did not stop in {STOP_TIMEOUT}s:\n{self.log}")

    def kill(self) -> None:
        for pid in [*self.descendants(), self.process.pid]:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        self.process.kill()


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.fixture
def stack(tmp_path):
    running = RunningStack(tmp_path)
    yield running
    if running.process.alive():
        running.kill()


def test_a_coupon_goes_through_the_stack_and_ctrl_c_stops_every_process(stack):
    stack.wait_for(stack.producer_port, "/readyz")
    stack.wait_for(stack.api_port, "/readyz")

    user = {"user_id": 71, "birth_year": 1990, "country": "GR", "currency": "EUR", "gender": "F"}
    event = {
        "event_id": "72",
        "begin_timestamp": "2031-05-01T18:00:00Z",
        "end_timestamp": "2031-05-01T20:00:00Z",
        "country": "GR",
        "league": "Super League",
        "sport": "Football",
        "participants": ["Olympiacos", "AEK"],
    }
    coupon = {
        "coupon_id": 73,
        "user_id": 71,
        "stake": 5,
        "selections": [{"event_id": 72, "odds": 2}],
    }
    for path, record in [("/users", user), ("/events", event), ("/coupons", coupon)]:
        code, receipt = stack.request(stack.producer_port, path, record)
        assert code == 202, (receipt, stack.log)

    stored = stack.wait_for(stack.api_port, "/coupons/73", timeout=60)
    assert stored["selections"] == [{"event_id": 72, "odds": 2.0}]

    processes = stack.descendants()
    assert len(processes) >= 4  # broker, the consumer, two gunicorn masters (and workers)
    assert stack.stop(signal.SIGINT) == 0, stack.log
    assert [pid for pid in processes if alive(pid)] == []
    log = stack.log
    for name in ("consumer", "api", "producer"):
        assert f"{name} stopped (exit code 0)" in log
    assert log.index("producer stopped") < log.index("broker stopped")


def test_when_one_process_dies_the_whole_stack_stops_with_its_exit_code(stack):
    stack.wait_for(stack.api_port, "/healthz")
    processes = stack.descendants()
    consumer = next(
        pid for pid in processes if b"consume_topic" in Path(f"/proc/{pid}/cmdline").read_bytes()
    )

    os.kill(consumer, signal.SIGKILL)

    assert stack.process.wait(STOP_TIMEOUT) == 128 + signal.SIGKILL, stack.log
    assert [pid for pid in processes if alive(pid)] == []


def test_sqlite_gets_one_consumer_for_all_topics_and_a_server_database_one_per_topic():
    assert consumer_processes("") == [("consumer", ["users", "events", "coupons"])]
    assert consumer_processes("sqlite:////data/db.sqlite3") == consumer_processes("")
    assert consumer_processes("postgres://u@db:5432/betreco") == [
        ("consumer-users", ["users"]),
        ("consumer-events", ["events"]),
        ("consumer-coupons", ["coupons"]),
    ]
