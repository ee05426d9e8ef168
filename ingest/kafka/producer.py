"""Publishing validated records to Kafka, and the broker check behind /readyz.

One confluent-kafka Producer per process, created on first use: idempotent,
`acks=all`, a short linger. `publish_records` waits for the broker's
acknowledgement of every record, bounded by `KAFKA_PRODUCE_TIMEOUT`, and
raises `BrokerUnavailable` when any record was not acknowledged in time. The
producer's own message timeout equals that bound, so a record we gave up on
also fails inside librdkafka and is never delivered after we answered 503.

A process forked after the producer was made (gunicorn workers) gets a new
one, as does a change of its client configuration or timeout (tests override them).

Delivery reports are served by one thread per producer that polls it, and
each call waits on an event of its own. Were the request threads to poll
themselves, one thread's poll would serve another's reports while that
other slept on in its own poll, and a worker's threads would queue behind
each other (measured: 120 single-record requests/s however many threads).
"""

import json
import logging
import os
import threading
import time
from dataclasses import dataclass

from confluent_kafka import KafkaError, KafkaException, Producer
from confluent_kafka.admin import AdminClient
from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder

from betreco import metrics
from ingest.kafka.client_config import client_config, redacted
from ingest.kafka.logs import log_error, with_logging
from ingest.kafka.topics import SCHEMA_VERSION, Header, topic_name

logger = logging.getLogger(__name__)

# Time allowed past the producer's own message timeout for its report to arrive.
REPORT_GRACE_SECONDS = 2.0
BROKER_CHECK_TIMEOUT_SECONDS = 1.0
BROKER_CHECK_CACHE_SECONDS = 2.0
POLL_INTERVAL_SECONDS = 0.1


class BrokerUnavailable(Exception):
    """The broker did not acknowledge every record in time; the request may be retried."""


@dataclass(frozen=True)
class Receipt:
    """Where the broker stored one record."""

    id: int
    topic: str
    partition: int
    offset: int


_lock = threading.Lock()
_producer: Producer | None = None
_producer_key: tuple | None = None


def _config(timeout_ms: int) -> dict:
    return client_config(
        {
            "enable.idempotence": True,
            "acks": "all",
            "linger.ms": 5,
            # A record not acknowledged within the request's bound fails here too,
            # so it can never be stored later than the 503 we answered.
            "message.timeout.ms": timeout_ms,
            "request.timeout.ms": min(timeout_ms, 30_000),
            "socket.connection.setup.timeout.ms": min(timeout_ms, 2_000),
            "reconnect.backoff.max.ms": 1_000,
        }
    )


def _with_callbacks(config: dict) -> dict:
    return with_logging(config, error_cb=_on_error)


def _on_error(error: KafkaError) -> None:
    """librdkafka's global errors: a fatal one makes the next publish build a new producer."""
    global _producer_key
    if error.fatal():
        logger.error("fatal Kafka producer error; the next publish makes a new producer: %s", error)
        _producer_key = None  # not reset_producer(): this runs inside the producer's poll
    else:
        log_error(error)


def get_producer() -> Producer:
    """This process's producer for the current settings, created on first use."""
    global _producer, _producer_key
    config = _config(max(int(settings.KAFKA_PRODUCE_TIMEOUT * 1000), 100))
    key = (os.getpid(), repr(sorted(config.items())))
    with _lock:
        if _producer is None or _producer_key != key:
            _discard(_producer if _producer_key and _producer_key[0] == os.getpid() else None)
            logger.debug("new Kafka producer: %s", redacted(config))
            _producer = Producer(_with_callbacks(config))
            _producer_key = key
            threading.Thread(
                target=_serve_reports, args=(_producer,), name="kafka-delivery-reports", daemon=True
            ).start()
        return _producer


def warm_up(timeout: float = 2.0) -> None:
    """Create the producer and fetch the topics' metadata now, not on the first request.

    gunicorn calls it as each worker starts (docker/gunicorn.conf.py), so the
    first records a worker publishes do not wait for the broker connection.
    A broker that is not there yet is no error here: publishing reports it.
    """
    try:
        get_producer().list_topics(timeout=timeout)
    except KafkaException as error:
        logger.warning(
            "producer warm-up: the Kafka broker at %s did not answer yet (%s)",
            settings.KAFKA_BOOTSTRAP_SERVERS,
            error,
        )


def _serve_reports(producer: Producer) -> None:
    """Serve `producer`'s delivery reports and errors until it is replaced or dropped."""
    while producer is _producer:
        producer.poll(POLL_INTERVAL_SECONDS)
    # Dropped: serve what is left (the failure reports of purged records), so no caller
    # waits for a report that nobody would ever serve.
    deadline = time.monotonic() + REPORT_GRACE_SECONDS
    while len(producer) and time.monotonic() < deadline:
        producer.poll(POLL_INTERVAL_SECONDS)


def reset_producer() -> None:
    """Drop this process's producer (undelivered messages are purged); the next use makes one."""
    global _producer, _producer_key
    with _lock:
        if _producer_key and _producer_key[0] == os.getpid():
            _discard(_producer)
        _producer, _producer_key = None, None


def _discard(producer: Producer | None) -> None:
    if producer is None:
        return
    producer.purge(in_queue=True, in_flight=True, blocking=False)
    producer.flush(0)


def encode(record: dict) -> bytes:
    """A validated record as UTF-8 JSON: ISO 8601 datetimes, decimals as strings."""
    return json.dumps(record, cls=DjangoJSONEncoder, separators=(",", ":")).encode()


class _Deliveries:
    """Delivery reports for one publish call, filled in by librdkafka's callbacks."""

    def __init__(self, count: int):
        self.receipts: list[Receipt | None] = [None] * count
        self.errors: list[str] = []
        self.pending = count
        self.done = threading.Event()
        self._lock = threading.Lock()  # the reports thread writes, the caller reads
        if not count:
            self.done.set()

    def callback(self, index: int, record_id: int):
        def on_delivery(error, message) -> None:
            with self._lock:
                self.pending -= 1
                if error is not None:
                    self.errors.append(f"record {index} (id {record_id}): {error.str()}")
                else:
                    self.receipts[index] = Receipt(
                        record_id, message.topic(), message.partition(), message.offset()
                    )
                if not self.pending:
                    self.done.set()

        return on_delivery


def publish_records(kind: str, records: list[dict]) -> list[Receipt]:
    """Publish validated records of `kind`; return a receipt each once the broker has them all.

    Raises BrokerUnavailable when the broker refuses or does not acknowledge
    any of them within KAFKA_PRODUCE_TIMEOUT.
    """
    topic = topic_name(kind)
    producer = get_producer()
    started = time.perf_counter()
    deliveries = _Deliveries(len(records))
    headers = [(Header.SCHEMA.value, kind), (Header.SCHEMA_VERSION.value, SCHEMA_VERSION)]
    try:
        for index, record in enumerate(records):
            producer.produce(
                topic,
                key=str(record["id"]),
                value=encode(record),
                headers=headers,
                on_delivery=deliveries.callback(index, record["id"]),
            )
    except (BufferError, KafkaException) as error:
        metrics.PRODUCE_FAILURES.labels(topic).inc()
        raise BrokerUnavailable(f"Kafka refused the records: {error}") from error
    _await(producer, deliveries)
    if deliveries.errors or deliveries.pending:
        metrics.PRODUCE_FAILURES.labels(topic).inc()
        raise BrokerUnavailable(_failure_message(len(records), deliveries))
    metrics.PRODUCE_DURATION.labels(topic).observe(time.perf_counter() - started)
    metrics.PRODUCED_RECORDS.labels(topic).inc(len(records))
    return deliveries.receipts


def _await(producer: Producer, deliveries: _Deliveries) -> None:
    """Wait until every record of this call has its delivery report, or the bound passes."""
    bound = settings.KAFKA_PRODUCE_TIMEOUT + REPORT_GRACE_SECONDS
    if not deliveries.done.wait(bound):
        logger.error("no delivery report in time; purging the producer's queue")
        reset_producer()


def _failure_message(total: int, deliveries: _Deliveries) -> str:
    failed = deliveries.pending + len(deliveries.errors)
    reason = deliveries.errors[0] if deliveries.errors else "no acknowledgement"
    return (
        f"Kafka did not acknowledge {failed} of {total} record(s) within "
        f"{settings.KAFKA_PRODUCE_TIMEOUT:g} s ({reason}). The request was not accepted; "
        "retry it (records are keyed by id, so a retried record is stored once)."
    )


_broker_check = {"at": 0.0, "key": None, "result": ""}
_broker_check_lock = threading.Lock()


def broker_status() -> str:
    """'ok' when the broker answers a metadata request, else 'unavailable: why' (cached 2 s)."""
    # Its connection errors are the answer (in /readyz), not log lines: its log
    # lines and errors are never polled for, so never logged, and never on stderr.
    config = client_config({"socket.connection.setup.timeout.ms": 1000, "log_level": 2})
    key = repr(sorted(config.items()))
    with _broker_check_lock:
        fresh = time.monotonic() - _broker_check["at"] < BROKER_CHECK_CACHE_SECONDS
        if fresh and _broker_check["key"] == key:
            return _broker_check["result"]
        admin = AdminClient(with_logging(config))
        try:
            admin.list_topics(timeout=BROKER_CHECK_TIMEOUT_SECONDS)
            result = "ok"
        except KafkaException as error:
            result = f"unavailable: {error.args[0].str() if error.args else error}"
        _broker_check.update(at=time.monotonic(), key=key, result=result)
        return result
