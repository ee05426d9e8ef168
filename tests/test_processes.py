"""betreco/processes.py, the launcher of `make run`, the soak, the bench and the tests:
small Python children stand in for gunicorn and the consumers."""

import signal
import sys
import time

import pytest

from betreco import processes

# Says it is up, then ignores SIGTERM (a process stuck in a batch).
STUBBORN = (
    "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
    "print('up', flush=True); time.sleep(60)"
)
# Says it is up; on SIGTERM finishes its work (1.5 s) and exits 0, as a consumer does.
SLOW_TO_STOP = (
    "import signal, sys, time; "
    "signal.signal(signal.SIGTERM, lambda *_: (time.sleep(1.5), sys.exit(0))); "
    "print('up', flush=True); time.sleep(60)"
)


def python(tmp_path, code: str, name: str = "child") -> processes.Process:
    argv = [sys.executable, "-c", code]
    return processes.start(name, argv, processes.child_env(), tmp_path / f"{name}.log")


def wait_for_line(process: processes.Process, text: str) -> None:
    deadline = time.monotonic() + 10
    while text not in process.log:
        assert time.monotonic() < deadline, process.log
        time.sleep(0.02)


def test_a_child_runs_in_the_project_directory_its_output_appended_to_its_log(tmp_path):
    log = tmp_path / "child.log"
    log.write_text("earlier start\n")

    child = python(tmp_path, "import os, sys; print(os.getcwd()); print('err', file=sys.stderr)")

    assert child.wait() == 0
    assert child.log.splitlines() == ["earlier start", str(processes.PROJECT_DIR), "err"]


def test_stop_sends_sigterm_and_a_process_that_obeys_is_not_killed(tmp_path):
    child = python(tmp_path, "import time; print('up', flush=True); time.sleep(60)")
    wait_for_line(child, "up")

    assert child.stop(grace=10) == -signal.SIGTERM
    assert not child.killed


def test_stop_kills_what_does_not_stop_within_the_grace(tmp_path):
    child = python(tmp_path, STUBBORN)
    wait_for_line(child, "up")

    assert child.stop(grace=0.5) == -signal.SIGKILL
    assert child.killed


def test_stop_all_signals_every_process_before_waiting_for_any(tmp_path):
    children = [python(tmp_path, SLOW_TO_STOP, f"child-{n}") for n in range(2)]
    for child in children:
        wait_for_line(child, "up")

    started = time.monotonic()
    assert processes.stop_all(children, grace=20) == [0, 0]
    assert time.monotonic() - started < 2.8  # one after the other: 3 s or more


def test_wait_names_a_process_that_did_not_end_and_leaves_it_running(tmp_path):
    child = python(tmp_path, STUBBORN)
    wait_for_line(child, "up")

    with pytest.raises(TimeoutError, match="child still running after 0.2 s; its log:\nup"):
        child.wait(0.2)
    assert child.alive()
    assert child.kill() == -signal.SIGKILL


def test_a_consumer_has_joined_once_it_logs_an_assignment_of_partitions_or_of_none(tmp_path):
    nothing = python(tmp_path, "print('INFO assigned nothing', flush=True)", "nothing")
    some = python(tmp_path, "print('INFO assigned users [0, 1]', flush=True)", "some")
    for child in (nothing, some):
        child.wait()

    assert processes.wait_joined([nothing, some], timeout=1) == []
    assert processes.wait_joined([nothing, some], partitions=True, timeout=1) == [nothing]


def test_a_consumer_that_exits_before_joining_is_reported_without_waiting_out_the_timeout(
    tmp_path,
):
    gone = python(tmp_path, "raise SystemExit(3)")
    gone.wait()

    started = time.monotonic()
    assert processes.wait_joined([gone], timeout=30) == [gone]
    assert time.monotonic() - started < 5


def test_a_childs_environment_is_this_ones_unbuffered_with_the_extra_on_top(monkeypatch):
    monkeypatch.setenv("BETRECO_PROCESSES_TEST", "inherited")

    env = processes.child_env(LOG_LEVEL="DEBUG", PYTHONUNBUFFERED="0")

    assert env["BETRECO_PROCESSES_TEST"] == "inherited"
    assert env["PYTHONFAULTHANDLER"] == "1"
    assert env["LOG_LEVEL"] == "DEBUG"
    assert env["PYTHONUNBUFFERED"] == "0"
