"""The soak's processes: consumers in one group and the producer under gunicorn, each logging
to a file of the run directory, started, killed and restarted by name."""

import http.client
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from betreco.embedded_broker import free_port
from betreco.stack import GUNICORN_CONFIG

PROJECT_DIR = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"
KINDS = ("users", "events", "coupons")


@dataclass
class Proc:
    """A child process and the log file its output goes to."""

    name: str
    popen: subprocess.Popen
    log_path: Path

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def stop(self, timeout: float = 30.0) -> int:
        """SIGTERM, wait; SIGKILL what does not stop in time. The exit code."""
        if self.alive():
            self.popen.send_signal(signal.SIGTERM)
        try:
            return self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            return self.popen.wait()


def spawn(name: str, argv: list[str], env: dict, log_path: Path) -> Proc:
    with log_path.open("ab") as log:
        popen = subprocess.Popen(
            argv, cwd=PROJECT_DIR, env=env, stdout=log, stderr=subprocess.STDOUT
        )
    return Proc(name, popen, log_path)


def manage(env: dict, *args: str, timeout: float = 300) -> None:
    subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=PROJECT_DIR,
        env=env,
        check=True,
        timeout=timeout,
        capture_output=True,
    )


def child_pids(pid: int) -> list[int]:
    """The direct children of `pid` (gunicorn's workers), from /proc."""
    found = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            found += [int(p) for p in (task / "children").read_text().split()]
        except OSError:
            continue
    return found


@dataclass
class Consumers:
    """`consume_topic` processes in one group, by slot name: over all three topics, or
    over the topics a slot was started with (one per topic, as `make run` runs them on
    PostgreSQL).

    A slot keeps its name and topics across restarts; each start logs to a file of
    its own (`consumer-2.start3.log`). `unexpected` lists processes that exited
    without being told to, with their codes.
    """

    env: dict
    run_dir: Path
    slots: dict[str, Proc] = field(default_factory=dict)
    topics: dict[str, tuple[str, ...]] = field(default_factory=dict)  # slot -> its kinds
    starts: int = 0
    unexpected: list[tuple[str, int, Path]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self, name: str | None = None, kinds: tuple[str, ...] | None = None) -> str:
        """Start a slot (again, with its topics, when `name` is one); its name."""
        with self.lock:
            self.starts += 1
            kinds = kinds or self.topics.get(name or "", KINDS)
            stem = "consumer" if kinds == KINDS else f"consumer-{'-'.join(kinds)}"
            name = name or f"{stem}-{len(self.slots) + 1}"
            while name in self.slots and self.slots[name].alive():
                name = f"{stem}-{len(self.slots) + self.starts}"
            log_path = self.run_dir / f"{name}.start{self.starts}.log"
            argv = [sys.executable, "manage.py", "consume_topic", *kinds]
            self.slots[name] = spawn(name, argv, self.env, log_path)
            self.topics[name] = kinds
            return name

    def live(self) -> list[str]:
        return [name for name, proc in list(self.slots.items()) if proc.alive()]

    def wait_joined(self, names: list[str], timeout: float = 60.0) -> list[str]:
        """Until each slot of `names` has logged its first assignment (it is a member of the
        group, with partitions or none); the names that had not by the timeout."""
        deadline = time.monotonic() + timeout
        waiting = list(names)
        while waiting and time.monotonic() < deadline:
            waiting = [
                name
                for name in waiting
                if " assigned " not in self.slots[name].log_path.read_text(errors="replace")
            ]
            if waiting:
                time.sleep(0.2)
        return waiting

    def per_topic(self) -> dict[str, int]:
        """How many live processes consume each topic."""
        return {kind: sum(1 for name in self.live() if kind in self.topics[name]) for kind in KINDS}

    def kill(self, name: str) -> None:
        proc = self.slots[name]
        proc.popen.send_signal(signal.SIGKILL)
        proc.popen.wait()

    def leave(self, name: str, timeout: float = 60.0) -> int:
        """SIGTERM: finish the batch, commit, leave the group; the slot is gone. Exit code."""
        with self.lock:
            proc = self.slots.pop(name)
        return proc.stop(timeout)

    def watch(self) -> list[str]:
        """Restart slots whose process exited on its own (recorded as unexpected)."""
        died = []
        for name, proc in list(self.slots.items()):
            code = proc.popen.poll()
            if code is not None:
                self.unexpected.append((name, code, proc.log_path))
                died.append(name)
                self.start(name)
        return died

    def stop_all(self, timeout: float = 60.0) -> dict[str, int]:
        """SIGTERM every consumer once (a second one would cut a clean stop short); codes."""
        for proc in self.slots.values():
            if proc.alive():
                proc.popen.send_signal(signal.SIGTERM)
        codes = {}
        for name, proc in self.slots.items():
            try:
                codes[name] = proc.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.popen.kill()
                codes[name] = f"killed after {timeout:g} s"
        return codes


def start_gunicorn(role: str, env: dict, run_dir: Path, *, workers: int, threads: int) -> tuple:
    """A role under gunicorn with the image's config, as `make run` starts it: (Proc, port)."""
    port = free_port()
    argv = [sys.executable, "-m", "gunicorn", "--config", GUNICORN_CONFIG, "betreco.wsgi"]
    proc = spawn(
        role,
        argv,
        {
            **env,
            "BETRECO_ROLE": role,
            "HOST": HOST,
            "PORT": str(port),
            "WEB_CONCURRENCY": str(workers),
            "GUNICORN_THREADS": str(threads),
            "GUNICORN_GRACEFUL_TIMEOUT": "10",
        },
        run_dir / f"{role}.log",
    )
    deadline = time.monotonic() + 60
    while True:
        if not proc.alive():
            raise RuntimeError(f"gunicorn ({role}) exited with {proc.popen.returncode}")
        if _healthy(port) and len(child_pids(proc.pid)) >= workers:
            return proc, port
        if time.monotonic() > deadline:
            proc.stop()
            raise RuntimeError(f"the {role} role did not answer /healthz within 60 s")
        time.sleep(0.2)


def _healthy(port: int) -> bool:
    conn = http.client.HTTPConnection(HOST, port, timeout=2)
    try:
        conn.request("GET", "/healthz")
        return conn.getresponse().status == 200
    except OSError:
        return False
    finally:
        conn.close()


def ensure_topics(env: dict) -> None:
    subprocess.run(
        [sys.executable, "-m", "betreco.stack", "--ensure-topics"],
        cwd=PROJECT_DIR,
        env=env,
        check=True,
        timeout=120,
        capture_output=True,
    )


def new_prefix() -> str:
    """Topics and consumer group of a run's own."""
    return f"soak-{uuid.uuid4().hex[:8]}."


def base_env(**extra: str) -> dict:
    env = {
        **os.environ,
        "PYTHONUNBUFFERED": "1",
        # A process that dies on a signal (SIGSEGV in a C extension) writes every thread's
        # Python stack into its log first.
        "PYTHONFAULTHANDLER": "1",
        "DJANGO_SETTINGS_MODULE": "betreco.settings",
    }
    env.pop("TOPICS", None)
    return {**env, **extra}
