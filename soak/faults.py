"""The soak's fault schedule and the poison records, run while the driver runs.

Kinds: `consumer-kill` (SIGKILL a random consumer at a random instant,
restart it a moment later), `worker-kill` (SIGKILL one gunicorn worker of the
producer; the master starts another), `db-outage` (longer than
max.poll.interval.ms), `consumer-join` (one more consumer in the group),
`consumer-leave` (SIGTERM one: it must exit 0), and `poison` (a record no
consumer can store, produced straight to a topic: the HTTP API refuses them).

The full-speed phase has a schedule of its own (`full_speed_schedule`):
the consumers scaled to two per topic at once (`consumer-scale`), then
consumer kills. Joins, scaling and restarts keep the consumers' shape
(`Consumers.per_topic`): over all three topics, or one topic each.
"""

import json
import random
import signal
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from confluent_kafka import Producer

from betreco.processes import Process, child_pids
from soak import database
from soak.processes import Consumers

POISON_ID_BASE = 9_000_000_000_000


@dataclass(frozen=True)
class Fault:
    at: float  # seconds after the load started
    kind: str


def schedule(seconds: float, rng: random.Random, *, outage_at: float = 0.4) -> list[Fault]:
    """Faults spread over a load of `seconds`: a consumer kill every ~80 s (at least 3), a
    worker kill every ~5 min (at least 1), one outage, one join, one leave, poison records."""

    def spread(kind: str, count: int, low: float = 0.08, high: float = 0.85) -> list[Fault]:
        return [Fault(rng.uniform(low, high) * seconds, kind) for _ in range(count)]

    faults = [
        *spread("consumer-kill", max(3, round(seconds / 80))),
        *spread("worker-kill", max(1, round(seconds / 300))),
        *spread("poison", max(4, round(seconds / 100)), 0.05, 0.9),
        Fault(0.15 * seconds, "consumer-join"),
        Fault(outage_at * seconds, "db-outage"),
        Fault(0.7 * seconds, "consumer-leave"),
    ]
    return sorted(faults, key=lambda f: f.at)


def full_speed_schedule(seconds: float, rng: random.Random) -> list[Fault]:
    """The full-speed phase's faults: two or more consumers per topic, and a consumer
    SIGKILLed every ~20 s (at least 2) while the producers post as fast as they can."""
    kills = [
        Fault(rng.uniform(0.2, 0.85) * seconds, "consumer-kill")
        for _ in range(max(2, round(seconds / 20)))
    ]
    return [Fault(0.0, "consumer-scale"), *sorted(kills, key=lambda f: f.at)]


@dataclass
class Poison:
    """Poison records produced and acknowledged by the broker: (topic, key) each."""

    bootstrap: str
    topics: dict[str, str]  # kind -> topic name
    produced: list[dict] = field(default_factory=list)
    count: int = 0

    def produce_one(self, pool) -> None:
        self.count += 1
        record_id = POISON_ID_BASE + self.count
        kind, value, why = self._make(record_id, pool)
        producer = Producer({"bootstrap.servers": self.bootstrap, "linger.ms": 0})
        result = {}

        def delivered(error, message):
            result["error"] = error
            result["where"] = (message.topic(), message.partition(), message.offset())

        producer.produce(
            self.topics[kind],
            key=str(record_id).encode(),
            value=value,
            headers=[("betreco-schema", kind.encode()), ("betreco-schema-version", b"1")],
            on_delivery=delivered,
        )
        producer.flush(30)
        if result.get("error") is not None or "where" not in result:
            raise RuntimeError(f"poison {record_id} not acknowledged: {result}")
        topic, partition, offset = result["where"]
        self.produced.append(
            {
                "topic": topic,
                "partition": partition,
                "offset": offset,
                "key": str(record_id),
                "why": why,
            }
        )

    def _make(self, record_id: int, pool) -> tuple[str, bytes, str]:
        users, events = pool.users[-1:] or [1], pool.events[-1:] or [1]
        variant = self.count % 4
        if variant == 0:
            return "users", f'{{"id": {record_id}, "birth_year": '.encode(), "malformed JSON"
        if variant == 1:
            record = {
                "id": record_id,
                "begin_timestamp": "2031-05-01T18:00:00Z",
                "end_timestamp": "2031-05-01T20:00:00Z",
                "country": "GR",
                "league": "Cup",
                "sport": "Football",
                "participants": ["Same", "Same"],
            }
            return "events", json.dumps(record).encode(), "two identical participants"
        if variant == 2:
            record = {
                "id": record_id,
                "user_id": users[0],
                "stake": "5.00",
                "selections": [{"event_id": events[0], "odds": "1.00"}],
            }
            return "coupons", json.dumps(record).encode(), "odds 1.0"
        record = {
            "id": record_id,
            "birth_year": 1800,
            "country": "GR",
            "currency": "EUR",
            "gender": "F",
        }
        return "users", json.dumps(record).encode(), "birth_year 1800"


@dataclass
class FaultRunner:
    """Runs a schedule from `started` on: each fault in a thread of its own, and restarts
    any consumer that exits by itself (recorded as unexpected)."""

    faults: list[Fault]
    consumers: Consumers
    producer: Process
    database_url: str
    outage_s: float
    poison: Poison
    pool: object
    run_dir: Path
    rng: random.Random
    done: Counter = field(default_factory=Counter)
    leave_codes: list[tuple[str, int]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    consumer_lock: threading.Lock = field(default_factory=threading.Lock)
    stopping: threading.Event = field(default_factory=threading.Event)
    threads: list[threading.Thread] = field(default_factory=list)

    def __post_init__(self):
        self.log = (self.run_dir / "faults.jsonl").open("a")
        self.log_lock = threading.Lock()

    def run(self, started: float) -> None:
        pending = list(self.faults)
        while not self.stopping.is_set():
            now = time.monotonic() - started
            while pending and pending[0].at <= now:
                fault = pending.pop(0)
                thread = threading.Thread(target=self._do, args=(fault,), daemon=True)
                thread.start()
                self.threads.append(thread)
            with self.consumer_lock:
                for name in self.consumers.watch():
                    self._note("consumer-exited-by-itself", name)
            self.stopping.wait(0.5)

    def stop(self) -> None:
        self.stopping.set()
        for thread in self.threads:
            thread.join(120)
        self.log.close()

    def _note(self, kind: str, detail: str) -> None:
        with self.log_lock:
            self.log.write(json.dumps({"t": time.time(), "fault": kind, "detail": detail}) + "\n")
            self.log.flush()

    def _do(self, fault: Fault) -> None:
        try:
            detail = getattr(self, "_" + fault.kind.replace("-", "_"))()
        except Exception as error:  # the run goes on; the report lists it
            self.errors.append(f"{fault.kind} at {fault.at:.0f} s: {error!r}")
            self._note(fault.kind + "-failed", repr(error))
            return
        self.done[fault.kind] += 1
        self._note(fault.kind, detail)

    def _consumer_kill(self) -> str:
        with self.consumer_lock:
            name = self.rng.choice(self.consumers.live())
            pid = self.consumers.slots[name].pid
            self.consumers.kill(name)
            time.sleep(self.rng.uniform(0.5, 3.0))
            self.consumers.start(name)
        return f"{name} (pid {pid}) killed and restarted"

    def _worker_kill(self) -> str:
        workers = child_pids(self.producer.pid)
        if not workers:
            raise RuntimeError("the producer has no workers")
        pid = self.rng.choice(workers)
        import os

        os.kill(pid, signal.SIGKILL)
        return f"producer worker pid {pid} killed"

    def _db_outage(self) -> str:
        database.outage(self.database_url, self.outage_s)
        return f"database away for {self.outage_s:g} s"

    def _consumer_join(self) -> str:
        with self.consumer_lock:
            name = self.consumers.start()
        return f"{name} joined"

    def _consumer_scale(self) -> str:
        """Another process for each topic that fewer than two live processes consume."""
        with self.consumer_lock:
            started = self.consumers.scale_to(2)
        return f"started {started}"

    def _consumer_leave(self) -> str:
        """SIGTERM to a member: one that has joined the group (a process killed and started
        again a moment ago may not even have installed its signal handlers yet)."""
        with self.consumer_lock:
            name = self.rng.choice(self.consumers.spare() or self.consumers.live())
            if late := self.consumers.wait_joined([name]):
                raise RuntimeError(f"{late} did not join the group within 60 s")
            code = self.consumers.leave(name)
        self.leave_codes.append((name, code))
        return f"{name} left with exit code {code}"

    def _poison(self) -> str:
        self.poison.produce_one(self.pool)
        return json.dumps(self.poison.produced[-1])
