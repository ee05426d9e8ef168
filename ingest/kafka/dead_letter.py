"""Dead letters (docs/kafka.md): what can never be stored goes to `<topic>.dlq` with the reason.

A dead letter keeps the original key, value and headers and adds headers
naming the error, its kind and the original topic, partition and offset.
Each one is also recorded as a `DeadLetter` row (unique on its source, so a
replayed batch does not count it twice) for `manage.py kafka_status`.

Order of writes, so that nothing is lost: the rows are written in the
batch's transaction; the messages are produced and flushed before the
batch's offsets are committed. A crash in between replays the batch, which
produces the dead letters again (at least once) and writes no second row.
Dead letters that no replay would bring back (parked coupons that expired)
are written unpublished and published from their rows after the commit
(`publish_unpublished`), so a crash or an outage in between delays them
and loses none.
"""

import json
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from confluent_kafka import KafkaException, Producer
from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.utils import timezone

from ingest.kafka.backoff import retry
from ingest.kafka.client_config import client_config
from ingest.kafka.holding import Holding
from ingest.kafka.logs import with_logging
from ingest.kafka.topics import (
    SCHEMA_VERSION,
    ErrorKind,
    Header,
    dead_letter_topic,
    header_number,
    topic_name,
)
from ingest.models import DeadLetter, ParkedCoupon

if TYPE_CHECKING:  # a batch carries failures: batch.py imports this module
    from ingest.kafka.batch import Batch

logger = logging.getLogger(__name__)

PUBLISH_TIMEOUT = 10.0  # seconds the broker has to acknowledge a round of dead letters


@dataclass(frozen=True)
class Failure:
    """One message that goes to the dead-letter topic of `topic`, and why."""

    topic: str
    partition: int | None
    offset: int | None
    key: bytes | None
    value: bytes | None
    error: str
    error_kind: ErrorKind
    headers: list[tuple[str, bytes]] = field(default_factory=list)

    @classmethod
    def of_message(cls, message, *, error: str, error_kind: ErrorKind) -> "Failure":
        """A failure for a consumed confluent_kafka Message."""
        return cls(
            topic=message.topic(),
            partition=message.partition(),
            offset=message.offset(),
            key=message.key(),
            value=message.value(),
            error=error,
            error_kind=error_kind,
            headers=list(message.headers() or []),
        )

    @classmethod
    def of_parked(cls, parked: ParkedCoupon) -> "Failure":
        """A failure for a parked coupon whose user or events never arrived."""
        topic, partition, offset = parse_source(parked.source)
        lacks = ", ".join(f"{m.kind} {m.ref_id}" for m in parked.missing.all())
        return cls(
            topic=topic or topic_name("coupons"),
            partition=partition,
            offset=offset,
            key=str(parked.coupon_id).encode(),
            value=json.dumps(parked.payload, cls=DjangoJSONEncoder).encode(),
            error=(
                f"coupon {parked.coupon_id} still lacks {lacks or 'its references'} "
                f"after {settings.PARKED_TIMEOUT_SECONDS}s parked"
            ),
            error_kind=ErrorKind.UNRESOLVED,
            headers=[
                (Header.SCHEMA.value, b"coupons"),
                (Header.SCHEMA_VERSION.value, SCHEMA_VERSION.encode()),
            ],
        )

    def dead_letter_headers(self) -> list[tuple[str, bytes]]:
        added = {
            Header.ERROR: self.error,
            Header.ERROR_KIND: self.error_kind,
            Header.ORIGINAL_TOPIC: self.topic,
            Header.ORIGINAL_PARTITION: "" if self.partition is None else str(self.partition),
            Header.ORIGINAL_OFFSET: "" if self.offset is None else str(self.offset),
        }
        return self.headers + [(name.value, text.encode()) for name, text in added.items()]


def message_source(topic: str, partition: int, offset: int) -> str:
    """Where a message came from, as ParkedCoupon.source keeps it: 'topic/partition/offset'."""
    return f"{topic}/{partition}/{offset}"


def parse_source(source: str) -> tuple[str | None, int | None, int | None]:
    """The inverse of `message_source`; (None, None, None) for a record that came another way."""
    topic, _, rest = (source or "").rpartition("/")
    topic, _, partition = topic.rpartition("/")
    if topic and partition.isdigit() and rest.isdigit():
        return topic, int(partition), int(rest)
    return None, None, None


def record_dead_letters(failures: Iterable[Failure], *, published: bool = True) -> None:
    """Write a DeadLetter row per failure; a replayed one (same source) is not written again.

    `published=False` for failures the caller publishes from the rows after
    its commit (`publish_unpublished`) instead of before its offset commit.
    """
    published_at = timezone.now() if published else None
    DeadLetter.objects.bulk_create(
        [
            DeadLetter(
                topic=f.topic,
                partition=f.partition,
                offset=f.offset,
                key=(f.key or b"").decode("utf-8", errors="replace")[:100],
                reason=f"{f.error_kind}: {f.error}",
                value=(f.value or b"").decode("utf-8", errors="replace"),
                headers=[
                    [name, (value or b"").decode("utf-8", errors="replace")]
                    for name, value in f.dead_letter_headers()
                ],
                published_at=published_at,
                replay_count=header_number(f.headers, Header.REPLAYED) or 0,
                replay_of_id=header_number(f.headers, Header.REPLAY_OF),
            )
            for f in failures
        ],
        ignore_conflicts=True,
    )


@dataclass(frozen=True)
class DeadLetterMessage:
    """One message for a dead-letter topic, and the line that logs it."""

    topic: str  # the original topic
    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes]]
    description: str


def _produce_and_wait(producer: Producer, messages: list[DeadLetterMessage], timeout: float):
    """Produce to each message's dead-letter topic; raise KafkaException unless all were acked."""
    errors = []

    def delivered(error, _message):
        if error is not None:
            errors.append(error)

    for message in messages:
        producer.produce(
            dead_letter_topic(message.topic),
            key=message.key,
            value=message.value,
            headers=message.headers,
            on_delivery=delivered,
        )
        logger.warning("dead-lettered %s", message.description)
    left = producer.flush(timeout)
    if left or errors:
        # What is still queued would go out later on top of the retry's copies: drop it.
        producer.purge()
        producer.flush(0)
        raise KafkaException(
            errors[0] if errors else f"{left} dead letters not acknowledged within {timeout}s"
        )


def publish_unpublished(producer: Producer, *, timeout: float) -> int:
    """Publish dead letters written unpublished, then mark them; returns how many.

    At least once: a crash between the broker's acknowledgement and the
    mark publishes them again on the next call.
    """
    rows = list(DeadLetter.objects.filter(published_at__isnull=True).order_by("id")[:1000])
    messages = [
        DeadLetterMessage(
            topic=row.topic,
            key=row.key.encode() or None,
            value=row.value.encode(),
            headers=[(name, value.encode()) for name, value in row.headers],
            description=f"{row.topic}[{row.partition}]@{row.offset}: {row.reason}",
        )
        for row in rows
    ]
    if messages:
        _produce_and_wait(producer, messages, timeout)
        DeadLetter.objects.filter(id__in=[row.id for row in rows]).update(
            published_at=timezone.now()
        )
    return len(rows)


def publish_dead_letters(producer: Producer, failures: list[Failure], *, timeout: float) -> None:
    """Produce each failure to its dead-letter topic and wait for every acknowledgement.

    Raises KafkaException when the broker did not take all of them in time,
    so the caller does not commit the offsets of what it could not park.
    """
    messages = [
        DeadLetterMessage(
            topic=f.topic,
            key=f.key,
            value=f.value,
            headers=f.dead_letter_headers(),
            description=f"{f.topic}[{f.partition}]@{f.offset} ({f.error_kind}): {f.error}",
        )
        for f in failures
    ]
    if messages:
        _produce_and_wait(producer, messages, timeout)


class DeadLetterPublisher:
    """The loop's step after the store: publish a stored batch's dead letters before its commit.

    While the broker is unavailable the same dead letters are retried with
    the partitions paused and polled (`holding`), so the batch's offsets are
    not committed before every dead letter of it was acknowledged. It is the
    last step the batch is held for: then its partitions resume, if paused.
    """

    def __init__(self, producer: Producer, holding: Holding, *, should_stop: Callable[[], bool]):
        self.producer = producer
        self.holding = holding
        self.should_stop = should_stop

    def publish(self, batch: "Batch") -> None:
        failures = batch.failures
        retry(
            lambda: publish_dead_letters(self.producer, failures, timeout=PUBLISH_TIMEOUT),
            what=f"publishing {len(failures)} dead letters",
            retry_on=(KafkaException, BufferError),
            should_stop=self.should_stop,
            on_failure=lambda error: self.holding.pause(
                f"Kafka unavailable: {error}; holding {len(failures)} dead letters"
            ),
            wait=self.holding.wait,
        )
        self.holding.resume(f"stored the held {batch.size} records")


def dead_letter_producer(bootstrap_servers: str | None = None) -> Producer:
    """An idempotent, acks=all producer for dead letters."""
    config = client_config(
        {"enable.idempotence": True, "acks": "all"}, bootstrap_servers=bootstrap_servers
    )
    return Producer(with_logging(config))
