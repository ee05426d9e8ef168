"""One consumed batch: decode and validate each message, then store all of it in one transaction.

Decoding and validation need no database, so they run once per batch;
`store` is the part a consumer retries when the database is unavailable.
Messages of any topic may share a batch: users, events and coupons are
stored together (users and events first), which is what lets one process
consume several topics.
"""

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime

from confluent_kafka import TIMESTAMP_NOT_AVAILABLE
from django.db import DatabaseError, transaction

from ingest import services
from ingest.ids import derived_id
from ingest.kafka.backoff import DATABASE_UNAVAILABLE
from ingest.kafka.dead_letter import Failure, message_source, record_dead_letters
from ingest.kafka.envelope import DecodeError, decode
from ingest.validation import INPUT_SERIALIZERS, InvalidRecord, validate_records

INVALID_RECORD = "invalid-record"
REFUSED_BY_DATABASE = "refused-by-database"


@dataclass
class Batch:
    """Valid records by kind, what cannot be stored, and the offsets to commit afterwards."""

    records: dict[str, list[dict]] = field(default_factory=lambda: defaultdict(list))
    coupon_sources: dict[int, str] = field(default_factory=dict)
    failures: list[Failure] = field(default_factory=list)
    next_offsets: dict[tuple[str, int], int] = field(default_factory=dict)
    size: int = 0


# Fields that default to "now": on a topic, "now" is when the message was produced.
DEFAULT_TO_PRODUCE_TIME = {"users": "registration_date", "coupons": "timestamp"}


def _with_defaults(kind: str, record: dict, message) -> dict:
    """Fill what validation would fill differently on every replay: the id and "now".

    A record without an id gets one derived from its message's place, and a
    missing registration date or coupon timestamp is the message's
    timestamp, so that replaying the topic stores exactly the same rows.
    """
    record = dict(record)
    alias = INPUT_SERIALIZERS[kind].id_alias
    if record.get("id") is None and record.get(alias) is None:
        record["id"] = derived_id(message.partition(), message.offset())
    when = DEFAULT_TO_PRODUCE_TIME.get(kind)
    timestamp_type, milliseconds = message.timestamp()
    if when and record.get(when) is None and timestamp_type != TIMESTAMP_NOT_AVAILABLE:
        record[when] = datetime.fromtimestamp(milliseconds / 1000, tz=UTC).isoformat()
    return record


def prepare(messages) -> Batch:
    """Decode and validate consumed messages (those without a Kafka error) into a Batch.

    Records are validated a kind at a time (`validate_records`), which is
    several times faster than one by one; each kind keeps its message order.
    """
    batch = Batch()
    decoded = defaultdict(list)  # kind -> [(message, source, data)]
    for message in messages:
        topic, partition, offset = message.topic(), message.partition(), message.offset()
        batch.size += 1
        batch.next_offsets[(topic, partition)] = max(
            offset + 1, batch.next_offsets.get((topic, partition), 0)
        )
        source = message_source(topic, partition, offset)
        try:
            kind, data = decode(message.value(), topic=topic, headers=message.headers())
        except DecodeError as error:
            batch.failures.append(
                Failure.of_message(message, error=str(error), error_kind=error.error_kind)
            )
            continue
        decoded[kind].append((message, source, _with_defaults(kind, data, message)))
    for kind, items in decoded.items():
        results = validate_records(kind, [data for _, _, data in items])
        for (message, source, _), result in zip(items, results, strict=True):
            if isinstance(result, InvalidRecord):
                batch.failures.append(
                    Failure.of_message(message, error=str(result), error_kind=INVALID_RECORD)
                )
                continue
            batch.records[kind].append(result)
            if kind == "coupons":
                batch.coupon_sources[result["id"]] = source
    return batch


@transaction.atomic
def store(batch: Batch) -> services.StoreResult:
    """Store the batch's records and its dead-letter rows in one transaction."""
    result = services.store_batch(
        users=batch.records["users"],
        events=batch.records["events"],
        coupons=batch.records["coupons"],
        source=batch.coupon_sources,
    )
    record_dead_letters(batch.failures)
    return result


def store_one_by_one(messages) -> Batch:
    """The fallback when the database refuses a whole batch (not an outage, e.g. a constraint).

    Each message is stored in a transaction of its own, and the ones the
    database refuses become dead letters, so one such record neither stops
    the consumer nor takes the rest of its batch with it.
    """
    combined = Batch()
    for message in messages:
        single = prepare([message])
        try:
            store(single)
        except DATABASE_UNAVAILABLE:
            raise
        except DatabaseError as error:
            single = Batch(next_offsets=single.next_offsets, size=single.size)
            failure = Failure.of_message(message, error=str(error), error_kind=REFUSED_BY_DATABASE)
            single.failures.append(failure)
            store(single)
        combined.failures += single.failures
        combined.size += single.size
        for position, offset in single.next_offsets.items():
            combined.next_offsets[position] = max(offset, combined.next_offsets.get(position, 0))
    return combined
