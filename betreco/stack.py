"""The whole local pipeline in one command (`make run`, or `python -m betreco.stack`).

In order: migrate the database; start the embedded broker unless
KAFKA_BOOTSTRAP_SERVERS names one; create the topics; then one consumer per
topic, the data API on PORT (8098) and the producer role on PRODUCER_PORT
(8099), both under gunicorn. Every child's output is printed with its name
in front ("api      | ...").

Ctrl-C (SIGINT) or SIGTERM stops it all: the servers and consumers get
SIGTERM (consumers finish their batch and commit), the broker goes last.
If any child exits on its own, the whole stack stops with that child's
exit code.

Why not honcho: it starts every process at once (consumers before the
broker and topics exist), stops them all at once (the broker with them)
and kills whatever is left after a fixed 5 s.
"""

import logging
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

logger = logging.getLogger("betreco.stack")

STOP_TIMEOUT_SECONDS = 20.0
READY_TIMEOUT_SECONDS = 60.0
NAME_WIDTH = len("consumer-coupons")
GUNICORN_CONFIG = str(Path(__file__).resolve().parent.parent / "docker" / "gunicorn.conf.py")
DEFAULT_PORTS = {"PORT": "8098", "PRODUCER_PORT": "8099"}
_print_lock = threading.Lock()


@dataclass
class Child:
    """One supervised process, its output relayed line by line with its name in front."""

    name: str
    argv: list[str]
    env: dict[str, str] = field(default_factory=dict)
    process: subprocess.Popen | None = None

    def start(self) -> "Child":
        env = {**os.environ, "PYTHONUNBUFFERED": "1", **self.env}
        # A session of its own: a terminal's Ctrl-C reaches only the
        # supervisor, which stops the children in order.
        self.process = subprocess.Popen(
            self.argv,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        threading.Thread(target=self._relay, daemon=True).start()
        _say(f"{self.name} started (pid {self.process.pid})")
        return self

    def _relay(self) -> None:
        prefix = f"{self.name:<{NAME_WIDTH}} | ".encode()
        for line in iter(self.process.stdout.readline, b""):
            with _print_lock:
                sys.stdout.buffer.write(prefix + line)
                sys.stdout.buffer.flush()

    def exit_code(self) -> int | None:
        return self.process.poll() if self.process else None

    def terminate(self) -> None:
        if self.exit_code() is None:
            self.process.send_signal(signal.SIGTERM)

    def wait(self, timeout: float) -> int:
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            _say(f"{self.name} did not stop in {timeout:g} s; killing it")
            self.process.kill()
            return self.process.wait()


def _say(message: str) -> None:
    with _print_lock:
        sys.stdout.write(f"{'stack':<{NAME_WIDTH}} | {message}\n")
        sys.stdout.flush()


def _manage(*args: str) -> list[str]:
    return [sys.executable, "manage.py", *args]


def consumer_processes(database_url: str) -> list[tuple[str, list[str]]]:
    """The consumer processes to run: (name, topics) each.

    SQLite takes one writer at a time, so there one process consumes all
    three topics: no consumer waits on another's lock, and a coupon usually
    meets its user and events in the same batch instead of being parked.
    On a server database (PostgreSQL) each topic gets a process of its own.
    """
    kinds = ["users", "events", "coupons"]
    if not database_url or database_url.startswith("sqlite"):
        return [("consumer", kinds)]
    return [(f"consumer-{kind}", [kind]) for kind in kinds]


def _gunicorn(port: str) -> tuple[list[str], dict[str, str]]:
    """gunicorn with the image's config file, so local and production serve alike."""
    env = {
        "PORT": port,
        "HOST": os.environ.get("HOST", "127.0.0.1"),
        "GUNICORN_GRACEFUL_TIMEOUT": os.environ.get("GUNICORN_GRACEFUL_TIMEOUT", "10"),
    }
    argv = [sys.executable, "-m", "gunicorn", "--config", GUNICORN_CONFIG, "betreco.wsgi"]
    return argv, env


def _broker_argv(port: str) -> list[str]:
    """The embedded Tansu broker itself (docs/development.md): it exits 0 on SIGTERM."""
    from betreco.embedded_broker import EmbeddedBroker

    return EmbeddedBroker(int(port)).argv()


class Stack:
    """Starts the children in order, watches them, and stops them in reverse."""

    def __init__(self):
        self.broker: Child | None = None
        self.children: list[Child] = []
        self.stopping = threading.Event()

    def run(self) -> int:
        signal.signal(signal.SIGINT, self._on_signal)
        signal.signal(signal.SIGTERM, self._on_signal)
        try:
            code = self._start()
            if code is None:
                code = self._watch()
        finally:
            self._stop()
        _say(f"stopped (exit code {code})")
        return code

    def _on_signal(self, signum, frame) -> None:
        _say(f"{signal.Signals(signum).name} received; stopping")
        self.stopping.set()

    def _start(self) -> int | None:
        """Start everything in order; an exit code when a step failed or a signal came."""
        migrate = Child("migrate", _manage("migrate", "--no-input")).start()
        code = self._wait_step(migrate)
        if code:
            return code
        bootstrap = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
        if not bootstrap:
            port = os.environ.get("KAFKA_PORT", "9092")
            bootstrap = f"127.0.0.1:{port}"
            os.environ["KAFKA_BOOTSTRAP_SERVERS"] = bootstrap
            self.broker = Child("broker", _broker_argv(port)).start()
        topics = Child("topics", [sys.executable, "-m", "betreco.stack", "--ensure-topics"]).start()
        code = self._wait_step(topics)
        if code:
            return code
        for name, kinds in consumer_processes(os.environ.get("DATABASE_URL", "")):
            self._spawn(name, _manage("consume_topic", *kinds))
        for name, port in (("api", "PORT"), ("producer", "PRODUCER_PORT")):
            argv, env = _gunicorn(os.environ.get(port, DEFAULT_PORTS[port]))
            self._spawn(name, argv, BETRECO_ROLE=name, **env)
        return 0 if self.stopping.is_set() else None

    def _spawn(self, name: str, argv: list[str], **env: str) -> None:
        self.children.append(Child(name, argv, env).start())

    def _wait_step(self, child: Child) -> int | None:
        """Wait for a set-up step: None when it succeeded, else the code to exit with."""
        while (code := child.exit_code()) is None:
            if self.stopping.wait(0.1) or self._broker_died():
                child.terminate()
                child.wait(STOP_TIMEOUT_SECONDS)
                return (self.broker.exit_code() or 1) if self._broker_died() else 0
        if code:
            _say(f"{child.name} failed with exit code {code}")
        return code or None

    def _broker_died(self) -> bool:
        return self.broker is not None and self.broker.exit_code() is not None

    def _watch(self) -> int:
        """Until a signal (exit 0) or a child's own exit (its code)."""
        watched = [*self.children, *([self.broker] if self.broker else [])]
        while not self.stopping.wait(0.2):
            for child in watched:
                code = child.exit_code()
                if code is not None:
                    _say(f"{child.name} exited with code {code}; stopping everything")
                    return code if code >= 0 else 128 - code
        return 0

    def _stop(self) -> None:
        for child in self.children:
            child.terminate()
        for child in self.children:
            code = child.wait(STOP_TIMEOUT_SECONDS)
            _say(f"{child.name} stopped (exit code {code})")
        if self.broker is not None:
            self.broker.terminate()
            code = self.broker.wait(STOP_TIMEOUT_SECONDS)
            _say(f"broker stopped (exit code {code})")


def ensure_topics() -> int:
    """Wait for the broker, then create the record topics (a step of the stack)."""
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "betreco.settings")
    django.setup()
    from confluent_kafka import KafkaException

    from ingest.kafka.admin import ensure_topics as create_missing

    deadline = time.monotonic() + READY_TIMEOUT_SECONDS
    while True:
        try:
            created = create_missing()
            break
        except KafkaException as error:
            if time.monotonic() > deadline:
                logger.error("the broker did not answer in %g s: %s", READY_TIMEOUT_SECONDS, error)
                return 1
            time.sleep(0.5)
    logger.info("topics ready (created: %s)", ", ".join(created) or "none")
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    if argv == ["--ensure-topics"]:
        return ensure_topics()
    return Stack().run()


if __name__ == "__main__":
    sys.exit(main())
