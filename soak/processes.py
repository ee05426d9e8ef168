"""The soak's processes: consumers in one group and the producer under gunicorn, each logging
to a file of the run directory, started, killed and restarted by name (betreco/processes.py
starts and stops them)."""

import threading
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from betreco import processes
from betreco.embedded_broker import free_port
from betreco.processes import Process
from ingest.kafka.topics import RECORD_KINDS

KINDS = RECORD_KINDS


@dataclass
class Consumers:
    """`consume_topic` processes in one group, by slot name: each over all three topics,
    or with `per_topic` each over one (as `make run` runs them on PostgreSQL). Never
    both shapes in one group (docs/reliability.md, Findings).

    A slot keeps its name and topics across restarts; each start logs to a file of
    its own (`consumer-2.start3.log`). `unexpected` lists processes that exited
    without being told to, with their codes.
    """

    env: dict
    run_dir: Path
    per_topic: bool = False
    slots: dict[str, Process] = field(default_factory=dict)
    topics: dict[str, tuple[str, ...]] = field(default_factory=dict)  # slot -> its kinds
    starts: int = 0
    unexpected: list[tuple[str, int, Path]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def start_first(self, count: int) -> None:
        """The first consumers: `count` over all three topics, or one per topic."""
        for _ in range(len(KINDS) if self.per_topic else count):
            self.start()

    def start(self, name: str | None = None) -> str:
        """Start a slot again with its topics, or a new one (over the topic that fewest
        processes consume, with `per_topic`); its name."""
        with self.lock:
            self.starts += 1
            kinds = self.topics.get(name or "") or self._new_kinds()
            stem = "consumer" if kinds == KINDS else f"consumer-{'-'.join(kinds)}"
            name = name or f"{stem}-{len(self.slots) + 1}"
            while name in self.slots and self.slots[name].alive():
                name = f"{stem}-{len(self.slots) + self.starts}"
            log_path = self.run_dir / f"{name}.start{self.starts}.log"
            self.slots[name] = processes.start_consumer(name, kinds, self.env, log_path)
            self.topics[name] = kinds
            return name

    def _new_kinds(self) -> tuple[str, ...]:
        if not self.per_topic:
            return KINDS
        counts = self.per_topic_counts()
        return (min(KINDS, key=counts.get),)

    def scale_to(self, count: int) -> list[str]:
        """New processes until every topic has `count` live ones; their names."""
        started = []
        while min(self.per_topic_counts().values()) < count:
            started.append(self.start())
        return started

    def spare(self) -> list[str]:
        """Live processes whose every topic another live process consumes too."""
        counts = self.per_topic_counts()
        return [n for n in self.live() if all(counts[kind] > 1 for kind in self.topics[n])]

    def live(self) -> list[str]:
        return [name for name, proc in list(self.slots.items()) if proc.alive()]

    def wait_joined(self, names: list[str], timeout: float = 60.0) -> list[str]:
        """Until each slot of `names` has logged its first assignment (it is a member of the
        group, with partitions or none); the names that had not by the timeout."""
        late = processes.wait_joined([self.slots[name] for name in names], timeout=timeout)
        return [proc.name for proc in late]

    def per_topic_counts(self) -> dict[str, int]:
        """How many live processes consume each topic."""
        return {kind: sum(1 for name in self.live() if kind in self.topics[name]) for kind in KINDS}

    def kill(self, name: str) -> None:
        self.slots[name].kill()

    def leave(self, name: str, timeout: float = 60.0) -> int:
        """SIGTERM: finish the batch, commit, leave the group; the slot is gone. Exit code."""
        with self.lock:
            proc = self.slots.pop(name)
        return proc.stop(timeout)

    def watch(self) -> list[str]:
        """Restart slots whose process exited on its own (recorded as unexpected)."""
        died = []
        for name, proc in list(self.slots.items()):
            code = proc.exit_code()
            if code is not None:
                self.unexpected.append((name, code, proc.log_path))
                died.append(name)
                self.start(name)
        return died

    def stop_all(self, timeout: float = 60.0) -> dict[str, int | str]:
        """SIGTERM every consumer once, and wait; their codes ("killed after ..." for those
        that had not stopped within `timeout`). Each joined its group first: one started a
        moment ago may not have installed its signal handlers yet."""
        procs = list(self.slots.values())
        processes.wait_joined(procs, timeout=timeout)
        codes = processes.stop_all(procs, timeout)
        return {
            proc.name: f"killed after {timeout:g} s" if proc.killed else code
            for proc, code in zip(procs, codes, strict=True)
        }


def start_producer(env: dict, run_dir: Path, *, workers: int, threads: int) -> tuple:
    """The producer role under gunicorn as `make run` starts it, once it answers and has
    forked its workers: (Process, port)."""
    port = free_port()
    producer = processes.start_gunicorn(
        "producer",
        env,
        port=port,
        log_path=run_dir / "producer.log",
        workers=workers,
        threads=threads,
    )
    processes.wait_healthy(producer, port, workers=workers)
    return producer, port


def new_prefix() -> str:
    """Topics and consumer group of a run's own."""
    return f"soak-{uuid.uuid4().hex[:8]}."


def base_env(**extra: str) -> dict:
    env = processes.child_env(DJANGO_SETTINGS_MODULE="betreco.settings")
    env.pop("TOPICS", None)
    return {**env, **extra}
