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
import sys
import threading
import time

from betreco import processes
from betreco.processes import Process
from ingest.kafka.topics import RECORD_KINDS

logger = logging.getLogger("betreco.stack")  # not __name__: it runs as __main__

STOP_TIMEOUT_SECONDS = 20.0
READY_TIMEOUT_SECONDS = 60.0
NAME_WIDTH = len("consumer-coupons")
DEFAULT_PORTS = {"PORT": "8098", "PRODUCER_PORT": "8099"}
_print_lock = threading.Lock()


def _relayed(process: Process) -> Process:
    """Relay a piped child's output line by line with its name in front; say it started."""

    def relay() -> None:
        prefix = f"{process.name:<{NAME_WIDTH}} | ".encode()
        for line in iter(process.popen.stdout.readline, b""):
            with _print_lock:
                sys.stdout.buffer.write(prefix + line)
                sys.stdout.buffer.flush()

    threading.Thread(target=relay, daemon=True).start()
    _say(f"{process.name} started (pid {process.pid})")
    return process


def _supervised() -> dict:
    """How the stack starts a child: this environment as it is now, output piped for
    relaying, and a session of its own, so that a terminal's Ctrl-C reaches only the
    supervisor, which stops the children in order."""
    return {"env": processes.child_env(), "own_session": True}


def _launch(name: str, argv: list[str]) -> Process:
    return _relayed(processes.start(name, argv, **_supervised()))


def _say_stopped(child: Process, code: int) -> None:
    if child.killed:
        _say(f"{child.name} did not stop in {STOP_TIMEOUT_SECONDS:g} s; killed it")
    _say(f"{child.name} stopped (exit code {code})")


def _say(message: str) -> None:
    with _print_lock:
        sys.stdout.write(f"{'stack':<{NAME_WIDTH}} | {message}\n")
        sys.stdout.flush()


def consumer_processes(database_url: str) -> list[tuple[str, list[str]]]:
    """The consumer processes to run: (name, topics) each.

    SQLite takes one writer at a time, so there one process consumes all
    three topics: no consumer waits on another's lock, and a coupon usually
    meets its user and events in the same batch instead of being parked.
    On a server database (PostgreSQL) each topic gets a process of its own.
    """
    kinds = list(RECORD_KINDS)
    if not database_url or database_url.startswith("sqlite"):
        return [("consumer", kinds)]
    return [(f"consumer-{kind}", [kind]) for kind in kinds]


def _broker_argv(port: str) -> list[str]:
    """The embedded Tansu broker itself (docs/development.md): it exits 0 on SIGTERM."""
    from betreco.embedded_broker import EmbeddedBroker

    return EmbeddedBroker(int(port)).argv()


class Stack:
    """Starts the children in order, watches them, and stops them in reverse."""

    def __init__(self):
        self.broker: Process | None = None
        self.children: list[Process] = []
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
        migrate = _launch("migrate", processes.manage_argv("migrate", "--no-input"))
        code = self._wait_step(migrate)
        if code:
            return code
        bootstrap = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
        if not bootstrap:
            port = os.environ.get("KAFKA_PORT", "9092")
            bootstrap = f"127.0.0.1:{port}"
            os.environ["KAFKA_BOOTSTRAP_SERVERS"] = bootstrap
            self.broker = _launch("broker", _broker_argv(port))
        topics = _launch("topics", [sys.executable, "-m", "betreco.stack", "--ensure-topics"])
        code = self._wait_step(topics)
        if code:
            return code
        for name, kinds in consumer_processes(os.environ.get("DATABASE_URL", "")):
            self._spawn(processes.start_consumer(name, kinds, **_supervised()))
        for role, port in (("api", "PORT"), ("producer", "PRODUCER_PORT")):
            # gunicorn with the image's config, so local and production serve alike.
            server = processes.start_gunicorn(
                role,
                port=os.environ.get(port, DEFAULT_PORTS[port]),
                host=os.environ.get("HOST", "127.0.0.1"),
                graceful_timeout=os.environ.get("GUNICORN_GRACEFUL_TIMEOUT", "10"),
                **_supervised(),
            )
            self._spawn(server)
        return 0 if self.stopping.is_set() else None

    def _spawn(self, child: Process) -> None:
        self.children.append(_relayed(child))

    def _wait_step(self, child: Process) -> int | None:
        """Wait for a set-up step: None when it succeeded, else the code to exit with."""
        while (code := child.exit_code()) is None:
            if self.stopping.wait(0.1) or self._broker_died():
                child.stop(STOP_TIMEOUT_SECONDS)
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
        codes = processes.stop_all(self.children, STOP_TIMEOUT_SECONDS)
        for child, code in zip(self.children, codes, strict=True):
            _say_stopped(child, code)
        if self.broker is not None:
            _say_stopped(self.broker, self.broker.stop(STOP_TIMEOUT_SECONDS))


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
