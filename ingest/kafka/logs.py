"""librdkafka's logs and errors through Python logging, no reconnect storm (docs/operations.md).

Every Kafka client the service makes passes its configuration through
`with_logging`, which sends librdkafka's log lines to the
`ingest.kafka.librdkafka` logger (never raw `%3|...|FAIL|rdkafka#...` lines
on stderr) and its errors to `log_error`.

Without a broker, librdkafka retries the connection every few dozen
milliseconds and says so each time: dozens of identical lines a second.
What an operator needs is one line per retry of the service itself naming
the bootstrap servers (`backoff.retry(..., waiting_for=...)`), and once
the cause (connection refused, an SSL handshake that failed). So:

- a connection failure logged by librdkafka passes at most once a minute
  per distinct text, as a WARNING; the rest are DEBUG lines;
- an error reported through `error_cb` is logged at most once a minute
  per error code (fatal ones always), and a broker transport error only at
  DEBUG, since the connection-failure line above already says it;
- each line reads `<FACILITY>: <text>`, without librdkafka's internal
  client and thread names.
"""

import logging
import re
import threading
import time

from confluent_kafka import KafkaError

LOGGER_NAME = "ingest.kafka.librdkafka"
REPEAT_INTERVAL = 60.0  # seconds between two lines of the same connection failure or error code

logger = logging.getLogger(LOGGER_NAME)

# librdkafka's facilities for a broker connection that failed or went away.
CONNECTION_FACILITIES = frozenset({"FAIL", "ERROR", "DISCONNECT", "BROKERFAIL"})
# The parts of a line that change on every retry of the same failure.
_VARYING = re.compile(r"\s*\((?:after \d+ms in state \w+|\d+ identical error\(s\) suppressed)\)")
_THREAD = re.compile(r"^\[thrd:[^\]]*\]:\s*")


class _Once:
    """Answers True for a key at most once every `interval` seconds (thread-safe)."""

    def __init__(self, interval: float):
        self.interval = interval
        self._last: dict = {}
        self._lock = threading.Lock()

    def __call__(self, key) -> bool:
        now = time.monotonic()
        with self._lock:
            if now - self._last.get(key, -self.interval) < self.interval:
                return False
            self._last[key] = now
            return True


class LibrdkafkaLines(logging.Filter):
    """Rewrites confluent-kafka's log records and rate-limits connection failures.

    confluent-kafka logs `logger.log(level, "%s [%s] %s", facility, client, text)`.
    """

    def __init__(self, interval: float = REPEAT_INTERVAL):
        super().__init__()
        self.once = _Once(interval)

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if record.msg != "%s [%s] %s" or not isinstance(args, tuple) or len(args) != 3:
            return True
        facility, _client, text = args
        text = _THREAD.sub("", str(text))
        record.msg, record.args = "%s: %s", (facility, text)
        if facility not in CONNECTION_FACILITIES:
            return True
        if self.once((facility, _VARYING.sub("", text))):
            record.levelno, record.levelname = logging.WARNING, "WARNING"
            return True
        # A repeat: only for those who asked for DEBUG lines.
        if not logger.isEnabledFor(logging.DEBUG):
            return False
        record.levelno, record.levelname = logging.DEBUG, "DEBUG"
        return True


logger.addFilter(LibrdkafkaLines())

_errors_once = _Once(REPEAT_INTERVAL)
QUIET_ERRORS = frozenset({KafkaError._TRANSPORT})  # the connection-failure line says it already


def log_error(error: KafkaError) -> None:
    """`error_cb` of every client: a fatal error always, others once a minute per code."""
    if error.fatal():
        logger.error("fatal Kafka error: %s", error.str())
    elif error.code() in QUIET_ERRORS:
        logger.debug("Kafka: %s", error.str())
    elif _errors_once(error.code()):
        logger.warning("Kafka: %s (the client reconnects by itself)", error.str())


def with_logging(config: dict, *, error_cb=log_error) -> dict:
    """`config` with librdkafka's log lines and errors sent to Python logging, as above."""
    return {**config, "logger": logger, "error_cb": error_cb}
