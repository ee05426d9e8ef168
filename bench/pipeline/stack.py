"""The processes of one run, as `make run` starts them (betreco/processes.py): the embedded
broker, the consumers, and the producer and API roles under gunicorn."""

import os
import re
import shutil
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

from bench.pipeline import say
from bench.pipeline.rows import Rows
from betreco import processes
from betreco.embedded_broker import EmbeddedBroker, free_port
from betreco.processes import HOST, Process
from betreco.stack import consumer_processes

# The gunicorn config's WEB_CONCURRENCY x GUNICORN_THREADS defaults.
MAKE_RUN_CONFIG = f"{2 * (os.cpu_count() or 1)}x8"
ASSIGNED_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 20.0
CLOSED_LINE = re.compile(
    r"consumer closed after (\d+) messages in ([\d.]+) s, ([\d.]+) s of it draining outboxes"
)
# --production: DEBUG=0 settings, writes with a token (authenticated writes are not throttled).
BENCH_API_KEY = "bench-only-api-key"
PRODUCTION_ENV = {
    "DEBUG": "0",
    "SECRET_KEY": "bench-only-secret-key-not-for-production-0123456789abcdef",
    "SECURE_SSL_REDIRECT": "0",
    "ALLOWED_HOSTS": HOST,
    "API_KEYS": BENCH_API_KEY,
}


@dataclass
class Stack:
    """Broker, database, consumers and the producer under gunicorn for one run."""

    workdir: Path
    broker: EmbeddedBroker
    env: dict[str, str]
    rows: Rows
    empty_db: Path
    consumers: list[Process] = field(default_factory=list)
    consumer_starts: int = 0
    producer: Process | None = None
    producer_port: int = 0
    producer_config: str = ""
    api: Process | None = None
    api_port: int = 0

    def start_consumers(self) -> None:
        """The consumers as `make run` starts them; logging at INFO for their closing line."""
        self.consumer_starts += 1
        level = self.env["LOG_LEVEL"].upper()
        env = {**self.env, "LOG_LEVEL": "DEBUG" if level == "DEBUG" else "INFO"}
        for name, kinds in consumer_processes(self.env["DATABASE_URL"]):
            log_path = self.workdir / f"{name}-{self.consumer_starts}.log"
            self.consumers.append(processes.start_consumer(name, kinds, env, log_path))

    def wait_assigned(self) -> None:
        """Until every consumer has logged its first partition assignment."""
        late = processes.wait_joined(self.consumers, partitions=True, timeout=ASSIGNED_TIMEOUT_S)
        for consumer in late:
            if not consumer.alive():
                raise RuntimeError(
                    f"a consumer exited with {consumer.exit_code()}; see {consumer.log_path}"
                )
        if late:
            raise RuntimeError(f"consumers not assigned within {ASSIGNED_TIMEOUT_S:g} s")

    def stop_consumers(self) -> dict | None:
        """SIGTERM the consumers and wait; their closing lines, summed (None without them)."""
        if not self.consumers:
            return None
        processes.stop_all(self.consumers, STOP_TIMEOUT_S)
        stopped, self.consumers = self.consumers, []
        return consumer_time([consumer.log_path for consumer in stopped])

    def _start_gunicorn(self, role: str, config: str) -> tuple[Process, int]:
        """A role under gunicorn as `make run` starts it (its config file), workers x threads."""
        workers, threads = config.split("x")
        port = free_port()
        server = processes.start_gunicorn(
            role,
            self.env,
            port=port,
            log_path=self.workdir / f"{role}-{config}.log",
            workers=workers,
            threads=threads,
        )
        processes.wait_healthy(server, port)
        return server, port

    def start_producer(self, config: str) -> None:
        """The producer role under gunicorn as `make run` starts it, with workers x threads."""
        self.stop_producer()
        self.producer, self.producer_port = self._start_gunicorn("producer", config)
        self.producer_config = config

    def stop_producer(self) -> None:
        if self.producer is not None:
            self.producer.stop(STOP_TIMEOUT_S)
            self.producer = None

    def start_api(self, config: str) -> None:
        """The data API (the api role) under gunicorn as `make run` starts it."""
        self.stop_api()
        self.api, self.api_port = self._start_gunicorn("api", config)

    def stop_api(self) -> None:
        if self.api is not None:
            self.api.stop(STOP_TIMEOUT_S)
            self.api = None

    def stop(self) -> None:
        self.stop_api()
        self.stop_producer()
        self.stop_consumers()
        self.broker.stop()

    def wait_stored(self, wanted: dict[str, int], started: float) -> dict[str, float]:
        """Until each kind has `wanted` rows; seconds from `started` per kind."""
        return self.rows.wait_stored(wanted, started, self.consumers)


def consumer_time(logs: list[Path]) -> dict | None:
    """Messages, seconds alive and seconds draining outboxes, from the consumers' closing lines.

    None (with a warning) when a log has no such line: a consumer killed, not stopped.
    """
    totals = {"messages": 0, "seconds": 0.0, "draining_s": 0.0}
    for path in logs:
        found = CLOSED_LINE.findall(path.read_text(errors="replace"))
        if not found:
            say(f"warning: no 'consumer closed' line in {path}; no refresh share this run")
            return None
        messages, seconds, draining = found[-1]
        totals["messages"] += int(messages)
        totals["seconds"] += float(seconds)
        totals["draining_s"] += float(draining)
    totals["share"] = totals["draining_s"] / totals["seconds"] if totals["seconds"] else 0.0
    return totals


def start_stack(exits: ExitStack, workdir: Path, run_id: str, production: bool) -> Stack:
    """A run's broker, a migrated SQLite file and its topics; stopped when `exits` closes."""
    broker = EmbeddedBroker().start()
    db_path = workdir / "bench.sqlite3"
    env = processes.child_env(
        DATABASE_URL=f"sqlite:///{db_path}",
        KAFKA_BOOTSTRAP_SERVERS=broker.bootstrap_servers,
        KAFKA_TOPIC_PREFIX=f"bench-{run_id}-",
        KAFKA_CONSUMER_GROUP=f"bench-{run_id}",
        LOG_LEVEL=os.environ.get("LOG_LEVEL", "WARNING"),
        **(PRODUCTION_ENV if production else {}),
    )
    env.pop("TOPICS", None)
    rows = Rows(db_path, broker.bootstrap_servers, env["KAFKA_CONSUMER_GROUP"], workdir)
    stack = Stack(workdir, broker, env, rows, workdir / "empty.sqlite3")
    exits.callback(stack.stop)
    processes.migrate(env)
    shutil.copyfile(db_path, stack.empty_db)  # the same schema, for the SQLite reference
    processes.ensure_topics(env)
    return stack
