"""librdkafka's lines through Python logging (ingest/kafka/logs.py): short, failures rarely."""

import logging

from ingest.kafka.logs import LibrdkafkaLines

CONNECT_FAILED = (
    "[thrd:127.0.0.1:1/bootstrap]: 127.0.0.1:1/bootstrap: Connect to ipv4#127.0.0.1:1 "
    "failed: Connection refused (after {ms}ms in state CONNECT)"
)


def librdkafka_record(facility: str, text: str, level: int = logging.ERROR):
    """A record as confluent-kafka logs it."""
    return logging.LogRecord(
        "ingest.kafka.librdkafka", level, __file__, 0, "%s [%s] %s",
        (facility, "rdkafka#producer-1", text), None,
    )  # fmt: skip


def test_librdkafka_lines_lose_the_client_and_thread_names():
    record = librdkafka_record("CONFWARN", "[thrd:app]: Configuration property x is deprecated")
    assert LibrdkafkaLines().filter(record)
    assert record.getMessage() == "CONFWARN: Configuration property x is deprecated"
    assert record.levelno == logging.ERROR  # only connection failures change level


def test_a_connection_failure_is_logged_once_a_minute_as_a_warning():
    lines = LibrdkafkaLines(interval=60)
    records = [librdkafka_record("FAIL", CONNECT_FAILED.format(ms=ms)) for ms in (0, 1, 2)]
    passed = [record for record in records if lines.filter(record)]
    assert passed == records[:1]
    assert passed[0].levelname == "WARNING"
    assert passed[0].getMessage().startswith("FAIL: 127.0.0.1:1/bootstrap: Connect to")
    # Another failure (an SSL handshake, say) is news: it passes too.
    assert lines.filter(librdkafka_record("FAIL", "[thrd:x]: SSL handshake failed"))
