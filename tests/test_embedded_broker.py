"""`python -m betreco.embedded_broker --port N`: the first terminal of docs/development.md."""

import signal
import socket
import subprocess
import sys

from betreco.embedded_broker import free_port
from betreco.processes import PROJECT_DIR


def test_it_says_where_it_listens_and_stops_on_sigterm():
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "betreco.embedded_broker", "--port", str(port)],
        cwd=PROJECT_DIR,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wanted = f"embedded Kafka broker listening on 127.0.0.1:{port}"
        seen = []
        for line in process.stderr:  # Tansu's own warnings may come first
            seen.append(line)
            if wanted in line:
                break
        assert wanted in seen[-1], seen
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0
    finally:
        process.kill()
        process.wait()


def test_a_taken_port_is_one_clear_line():
    port = free_port()
    with socket.create_server(("127.0.0.1", port)):
        result = subprocess.run(
            [sys.executable, "-m", "betreco.embedded_broker", "--port", str(port)],
            cwd=PROJECT_DIR,
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert result.returncode == 1
    assert f"port {port} is taken" in result.stderr
