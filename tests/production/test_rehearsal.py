"""A dress rehearsal of docker/compose.yaml without Docker.

Each betreco service's exact command, taken from the compose file with its
interpolated environment, runs here as a local process: only the database
(a temporary SQLite file), the broker (the kafka_bootstrap fixture) and the
ports (free ones on 127.0.0.1) differ. A record posted to the producer must
come out of the API, and every service must stop cleanly on SIGTERM, as
`docker compose stop` sends it.
"""

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from betreco.embedded_broker import free_port
from tests.production import compose
from tests.prometheus import scrape, value

pytestmark = pytest.mark.kafka

BIN = Path(sys.executable).parent
API_KEY = "rehearsal-key-" + uuid.uuid4().hex
DEADLINE = 90.0


def executable(command: list[str]) -> list[str]:
    """The container's `python`/`gunicorn` are this virtualenv's."""
    program = sys.executable if command[0] == "python" else str(BIN / command[0])
    return [program, *command[1:]]


class Stack:
    """The compose services as local processes, each logging to its own file."""

    def __init__(self, services: dict, log_dir: Path):
        self.services = services
        self.log_dir = log_dir
        self.processes: dict[str, subprocess.Popen] = {}
        self.env: dict[str, dict] = {}

    def environment(self, name: str) -> dict:
        env = {**os.environ, **compose.environment(self.services[name])}
        env.pop("DJANGO_SETTINGS_MODULE", None)  # as in the image: manage.py/wsgi choose it
        if "PORT" in env and name in ("api", "producer"):
            env.update(PORT=str(free_port()), HOST="127.0.0.1")
        if "CONSUMER_METRICS_PORT" in env:
            env.update(CONSUMER_METRICS_PORT=str(free_port()), CONSUMER_METRICS_HOST="127.0.0.1")
        self.env[name] = env
        return env

    def run_once(self, name: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            executable(self.services[name]["command"]),
            cwd=compose.REPO,
            env=self.environment(name),
            capture_output=True,
            text=True,
            timeout=DEADLINE,
        )

    def start(self, name: str) -> None:
        log = (self.log_dir / f"{name}.log").open("w")
        self.processes[name] = subprocess.Popen(
            executable(self.services[name]["command"]),
            cwd=compose.REPO,
            env=self.environment(name),
            stdout=log,
            stderr=subprocess.STDOUT,
        )

    def url(self, name: str, path: str) -> str:
        return f"http://127.0.0.1:{self.env[name]['PORT']}{path}"

    def healthcheck(self, name: str) -> int:
        """The service's compose healthcheck command, run with its environment."""
        test = self.services[name]["healthcheck"]["test"]
        assert test[0] == "CMD"
        return subprocess.run(
            executable(test[1:]),
            cwd=compose.REPO,
            env=self.env[name],
            capture_output=True,
            timeout=30,
        ).returncode

    def assert_running(self) -> None:
        """Fail at once, with its log, when a long-running service has exited."""
        for name, process in self.processes.items():
            if process.poll() is not None:
                raise AssertionError(f"{name} exited with {process.returncode}:\n{self.log(name)}")

    def log(self, name: str) -> str:
        return (self.log_dir / f"{name}.log").read_text()

    def stop(self) -> dict[str, int]:
        for process in self.processes.values():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        codes = {}
        for name, process in self.processes.items():
            try:
                codes[name] = process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()
                codes[name] = process.wait()
        return codes


@pytest.fixture
def stack(kafka_bootstrap, tmp_path):
    variables = {
        "SECRET_KEY": "rehearsal-" + uuid.uuid4().hex * 2,
        "API_KEYS": API_KEY,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'betreco.sqlite3'}",
        "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
        # Topics and group of our own on a broker the whole session shares.
        "KAFKA_TOPIC_PREFIX": f"rehearsal-{uuid.uuid4().hex[:8]}-",
        "KAFKA_CONSUMER_GROUP": f"rehearsal-{uuid.uuid4().hex[:8]}",
        "WEB_CONCURRENCY": "1",
        "GUNICORN_THREADS": "2",
    }
    running = Stack(compose.our_services(compose.load(variables)), tmp_path)
    yield running
    running.stop()


def request(method: str, url: str, body=None, *, key: str | None = API_KEY) -> tuple[int, dict]:
    """The answer to one request, sent with `key` (API_KEYS' write key) unless None."""
    data = json.dumps(body).encode() if body is not None else None
    headers = {"Content-Type": "application/json", "Accept": "application/json"}
    if key is not None:
        headers["Authorization"] = f"Bearer {key}"
    try:
        with urllib.request.urlopen(
            urllib.request.Request(url, data=data, method=method, headers=headers), timeout=15
        ) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}")
    except (urllib.error.URLError, ConnectionError):
        return 0, {}


def wait_until(condition, what: str, details, stack_running, deadline: float = DEADLINE):
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        stack_running()
        result = condition()
        if result:
            return result
        time.sleep(0.25)
    raise AssertionError(f"timed out waiting for {what}\n{details()}")


def test_the_compose_services_carry_a_coupon_from_producer_to_api_and_stop_cleanly(stack):
    migrated = stack.run_once("migrate")
    assert migrated.returncode == 0, migrated.stderr

    for name in ["consumer-users", "consumer-events", "consumer-coupons", "api", "producer"]:
        stack.start(name)
    for name in ["api", "producer"]:
        wait_until(
            lambda n=name: request("GET", stack.url(n, "/healthz"))[0] == 200,
            f"{name} to answer /healthz",
            lambda n=name: stack.log(n)[-3000:],
            stack.assert_running,
        )
        assert stack.healthcheck(name) == 0
    for name in ["consumer-users", "consumer-events", "consumer-coupons"]:
        assert stack.healthcheck(name) == 0, f"{name}'s healthcheck failed"

    begin = datetime.now(UTC) + timedelta(days=1)
    user = {"birth_year": 1990, "country": "GR", "currency": "EUR", "gender": "F"}
    event = {
        "begin_timestamp": begin.isoformat(),
        "end_timestamp": (begin + timedelta(hours=2)).isoformat(),
        "country": "GR",
        "league": "Super League",
        "sport": "Football",
        "participants": ["AEK", "PAOK"],
    }
    code, user_receipt = request("POST", stack.url("producer", "/users"), user)
    assert code == 202, user_receipt
    code, event_receipt = request("POST", stack.url("producer", "/events"), event)
    assert code == 202, event_receipt
    coupon = {
        "user_id": user_receipt["id"],
        "stake": 10,
        "selections": [{"event_id": event_receipt["id"], "odds": 1.8}],
    }
    code, coupon_receipt = request("POST", stack.url("producer", "/coupons"), coupon)
    assert code == 202, coupon_receipt
    assert coupon_receipt["topic"].endswith("coupons")

    path = f"/coupons/{coupon_receipt['id']}"
    stored = wait_until(
        lambda: (response := request("GET", stack.url("api", path)))[0] == 200 and response[1],
        "the coupon to reach the API",
        lambda: "\n".join(stack.log(n)[-1500:] for n in stack.processes),
        stack.assert_running,
    )
    assert stored["user_id"] == user_receipt["id"]
    assert request("GET", stack.url("api", f"/users/{user_receipt['id']}"))[0] == 200
    assert request("GET", stack.url("api", f"/events/{event_receipt['id']}"))[0] == 200
    assert request("GET", stack.url("api", path), key=None)[0] == 401  # DEBUG=0: no key, no read

    # Each consumer's metrics port (published by compose) counts what it stored: beside
    # its poll loop (ingest/kafka/reporting.py), so moments after the row is visible.
    metrics_url = (
        f"http://127.0.0.1:{stack.env['consumer-coupons']['CONSUMER_METRICS_PORT']}/metrics"
    )
    coupons_stored = wait_until(
        lambda: value(
            scrape(metrics_url), "betreco_records_stored_total", topic=coupon_receipt["topic"]
        ),
        "the coupons consumer to count the coupon",
        lambda: stack.log("consumer-coupons")[-1500:],
        stack.assert_running,
    )
    assert coupons_stored == 1

    codes = stack.stop()
    logs = {name: stack.log(name)[-2000:] for name in codes}
    assert codes == dict.fromkeys(codes, 0), logs
