"""Starting and stopping betreco's processes: one launcher for `make run`, the soak, the
bench and the tests.

All four start the same two kinds of process, a role (the data API or the producer)
under gunicorn with the image's config, and `manage.py consume_topic` over some topics,
and need the same few things of them: output in a log file (or piped, for `make run` to
relay), readiness (a 200 from /healthz; a consumer's first assignment in its log), a stop
that lets a consumer finish its batch and commit (SIGTERM, then SIGKILL after a grace),
and kill -9 for the tests and the soak's faults. What differs (ports, environment, log
names, which readiness to wait for) stays with each caller.
"""

import http.client
import os
import re
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parent.parent
# The image's gunicorn config (docs/production.md): local runs serve as production does.
GUNICORN_CONFIG = str(PROJECT_DIR / "docker" / "gunicorn.conf.py")
HOST = "127.0.0.1"
READY_TIMEOUT_S = 60.0
# A consumer's log line once it is a member of its group ("assigned nothing" included).
ASSIGNED = re.compile(r"\bassigned ")
ASSIGNED_PARTITIONS = re.compile(r"\bassigned (?!nothing)")


@dataclass
class Process:
    """A started child, by name, and the log file its output goes to (None: piped)."""

    name: str
    popen: subprocess.Popen
    log_path: Path | None = None
    killed: bool = False  # set when it did not stop within its grace and was killed
    dumps_stacks: bool = False  # SIGUSR1 prints its threads' stacks (consumers)

    @property
    def pid(self) -> int:
        return self.popen.pid

    @property
    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path else ""

    def exit_code(self) -> int | None:
        return self.popen.poll()

    def alive(self) -> bool:
        return self.exit_code() is None

    def signal(self, signum: int) -> None:
        self.popen.send_signal(signum)

    def terminate(self) -> None:
        """SIGTERM, once: a second one would cut a consumer's clean stop short."""
        if self.alive():
            self.popen.send_signal(signal.SIGTERM)

    def wait_or_kill(self, grace: float) -> int:
        """The exit code once it has stopped; SIGKILL first when it has not within `grace` s."""
        try:
            return self.popen.wait(grace)
        except subprocess.TimeoutExpired:
            self.killed = True
            return self.kill()

    def stop(self, grace: float) -> int:
        """SIGTERM (consumers finish their batch and commit), then SIGKILL after `grace` s."""
        self.terminate()
        return self.wait_or_kill(grace)

    def kill(self) -> int:
        """SIGKILL, as a crash would: nothing finished, nothing committed. The exit code."""
        if self.alive():
            self.popen.kill()
        return self.popen.wait()

    def dump_stacks(self) -> None:
        """Ask a consumer for every thread's stack in its log (SIGUSR1, see consume_topic)."""
        if self.dumps_stacks and self.alive() and self.log_path is not None:
            size = self.log_path.stat().st_size
            self.signal(signal.SIGUSR1)
            deadline = time.monotonic() + 2
            while self.log_path.stat().st_size == size and time.monotonic() < deadline:
                time.sleep(0.05)

    def wait(self, timeout: float = 60.0) -> int:
        """The exit code of a process expected to end by itself; an error when it has not
        within `timeout` s (it is left running, for the caller to stop or kill)."""
        try:
            return self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            self.dump_stacks()
            raise TimeoutError(
                f"{self.name} still running after {timeout:g} s; its log:\n{self.log}"
            ) from None


def child_env(**extra: str) -> dict[str, str]:
    """This process's environment for a child, with unbuffered output (log lines land as
    they are written) and every thread's stack in the log should it die on a signal in a C
    extension; then `extra`."""
    return {**os.environ, "PYTHONUNBUFFERED": "1", "PYTHONFAULTHANDLER": "1", **extra}


def start(
    name: str,
    argv: list[str],
    env: dict,
    log_path: Path | None = None,
    *,
    own_session=False,
    dumps_stacks=False,
) -> Process:
    """Start `argv` in the project directory, its output appended to `log_path`, or piped
    (stdout, stderr with it) without one. `own_session` keeps a terminal's Ctrl-C from
    reaching it, for a supervisor that stops its children in order."""
    output = log_path.open("ab") if log_path else subprocess.PIPE
    try:
        popen = subprocess.Popen(
            argv,
            cwd=PROJECT_DIR,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=own_session,
        )
    finally:
        if log_path:
            output.close()
    return Process(name, popen, log_path, dumps_stacks=dumps_stacks)


def manage_argv(*args: str) -> list[str]:
    return [sys.executable, "manage.py", *args]


def gunicorn_argv() -> list[str]:
    return [sys.executable, "-m", "gunicorn", "--config", GUNICORN_CONFIG, "betreco.wsgi"]


def start_gunicorn(
    role: str,
    env: dict,
    *,
    port: int | str,
    log_path: Path | None = None,
    host: str = HOST,
    workers: int | str | None = None,
    threads: int | str | None = None,
    graceful_timeout: str = "10",
    own_session: bool = False,
) -> Process:
    """A role (`api`, `producer`) under gunicorn with the image's config on host:port;
    workers x threads when given, else the config's defaults (from `env`)."""
    served = {
        **env,
        "BETRECO_ROLE": role,
        "HOST": host,
        "PORT": str(port),
        "GUNICORN_GRACEFUL_TIMEOUT": graceful_timeout,
    }
    if workers is not None:
        served["WEB_CONCURRENCY"] = str(workers)
    if threads is not None:
        served["GUNICORN_THREADS"] = str(threads)
    return start(role, gunicorn_argv(), served, log_path, own_session=own_session)


def start_consumer(
    name: str, args, env: dict, log_path: Path | None = None, *, own_session=False
) -> Process:
    """`manage.py consume_topic *args` (topics, then any options)."""
    argv = manage_argv("consume_topic", *args)
    return start(name, argv, env, log_path, own_session=own_session, dumps_stacks=True)


def healthy(port: int, host: str = HOST) -> bool:
    """Whether a server on host:port answers GET /healthz with 200."""
    conn = http.client.HTTPConnection(host, port, timeout=2)
    try:
        conn.request("GET", "/healthz")
        return conn.getresponse().status == 200
    except OSError:
        return False
    finally:
        conn.close()


def wait_healthy(process: Process, port: int, *, workers: int = 0, timeout=READY_TIMEOUT_S):
    """Until gunicorn answers /healthz (and, with `workers`, has forked that many); stopped
    and an error when it exits first or is not ready within `timeout` s."""
    deadline = time.monotonic() + timeout
    while True:
        if not process.alive():
            raise RuntimeError(f"gunicorn ({process.name}) exited with {process.exit_code()}")
        if healthy(port) and len(child_pids(process.pid)) >= workers:
            return
        if time.monotonic() > deadline:
            process.stop(grace=20)
            raise RuntimeError(f"the {process.name} role did not answer /healthz in {timeout:g} s")
        time.sleep(0.2)


def wait_joined(
    consumers: list[Process], *, partitions=False, timeout=READY_TIMEOUT_S
) -> list[Process]:
    """Until each consumer has logged its first assignment, that is, joined its group (with
    `partitions`, one of some partitions, not "assigned nothing"). Those that had not
    within `timeout` s or exited first."""
    pattern = ASSIGNED_PARTITIONS if partitions else ASSIGNED
    deadline = time.monotonic() + timeout
    waiting = list(consumers)
    while waiting and time.monotonic() < deadline:
        waiting = [c for c in waiting if c.alive() and not pattern.search(c.log)]
        if waiting:
            time.sleep(0.05)
    return [c for c in consumers if not pattern.search(c.log)]


def stop_all(processes: list[Process], grace: float) -> list[int]:
    """SIGTERM every one at once, so they stop side by side, then wait for each, killing
    what has not stopped within `grace` s. Their exit codes."""
    for process in processes:
        process.terminate()
    return [process.wait_or_kill(grace) for process in processes]


def child_pids(pid: int) -> list[int]:
    """The direct children of `pid` (gunicorn's workers), from /proc."""
    found = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            found += [int(p) for p in (task / "children").read_text().split()]
        except OSError:
            continue
    return found


def run_to_end(argv: list[str], env: dict, *, timeout: float = 300) -> None:
    """A set-up step (migrate, the topics) run to its end; its output in the error if it fails."""
    done = subprocess.run(
        argv, cwd=PROJECT_DIR, env=env, timeout=timeout, capture_output=True, text=True
    )
    if done.returncode:
        raise RuntimeError(
            f"{' '.join(argv[1:])} exited with {done.returncode}:\n{done.stdout}{done.stderr}"
        )


def migrate(env: dict) -> None:
    run_to_end(manage_argv("migrate", "--no-input", "-v", "0"), env)


def ensure_topics(env: dict) -> None:
    """Wait for the broker, then create the record topics (`python -m betreco.stack
    --ensure-topics`, the step of `make run`)."""
    run_to_end([sys.executable, "-m", "betreco.stack", "--ensure-topics"], env, timeout=120)
