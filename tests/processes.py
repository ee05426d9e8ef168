"""Several Python processes started at one instant against the test database.

For tests of what must hold across processes (SQLite writers queueing,
ids never assigned twice): each process runs a script of the test's, says
it is ready, and waits for one signal, so the processes really overlap
instead of running one after another as they start.
"""

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.conf import settings

from tests.kafka_pipeline import database_url

START_TIMEOUT = 60.0


def wait_for_go(ready: str, go: str) -> None:
    """In a started process: say it is ready, then wait until every process is."""
    Path(ready).touch()
    deadline = time.monotonic() + START_TIMEOUT
    while not Path(go).exists() and time.monotonic() < deadline:
        time.sleep(0.01)


def start_together(script: str, args: list[list[str]], tmp_path: Path) -> list[subprocess.Popen]:
    """One process per item of `args` running `script` (its argv: ready, go, *args).

    The script calls `wait_for_go(*sys.argv[1:3])` after its set-up; this
    returns once every process has, and has been told to go.
    """
    path = tmp_path / "script.py"
    path.write_text(script)
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "betreco.settings",
        "PYTHONPATH": str(settings.BASE_DIR),
        "DATABASE_URL": database_url(),
    }
    ready = [tmp_path / f"ready-{index}" for index in range(len(args))]
    go = tmp_path / "go"
    processes = [
        subprocess.Popen(
            [sys.executable, str(path), str(ready[index]), str(go), *map(str, arguments)],
            cwd=settings.BASE_DIR,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for index, arguments in enumerate(args)
    ]
    deadline = time.monotonic() + START_TIMEOUT
    while not all(path.exists() for path in ready):
        for process in processes:
            if process.poll() is not None:
                pytest.fail(f"a process exited early: {process.communicate()[1]}")
        if time.monotonic() > deadline:
            pytest.fail("the processes did not start in time")
        time.sleep(0.05)
    go.touch()
    return processes


def finish(processes: list[subprocess.Popen], timeout: float = 300) -> list[tuple[int, str, str]]:
    """Each process's exit code, output and error output, once all have ended."""
    outcomes = []
    for process in processes:
        stdout, stderr = process.communicate(timeout=timeout)
        outcomes.append((process.returncode, stdout, stderr))
    return outcomes
