"""One consumed batch, and the step that decodes and validates its messages (docs/consumers.md).

A `Batch` carries its messages from the poll (`poll.py`) to the commit;
`prepare` decodes and validates them into records by kind and the failures
that become dead letters, which the next step stores in one transaction
(`store.py`). Decoding and validation need no database; `prepare` only asks
the database (and the broker, for a topic's id) for the number of a
derived-id range it has not seen yet, once per batch (`derived_ids`).
Messages of any topic may share a batch: users, events and coupons are
stored together (users and events first), which is what lets one process
consume several topics.
"""

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial

from confluent_kafka import TIMESTAMP_NOT_AVAILABLE

from ingest.kafka.dead_letter import Failure, message_source
from ingest.kafka.derived_ids import DerivedIds
from ingest.kafka.envelope import DecodeError, decode
from ingest.kafka.topics import ErrorKind, Position, position_of
from ingest.validation import INPUT_SERIALIZERS, InvalidRecord, validate_records


@dataclass
class Batch:
    """Consumed messages in their order and, once prepared, their valid records and failures.

    `fetched`: how many messages the poll fetched to collect these (a gap's
    dropped ones included); fewer than it asked for means the flow paused.
    The messages never change: a batch with fewer is a new one (`without`),
    so what follows from them is worked out once, here.
    """

    messages: list = field(default_factory=list)
    fetched: int = 0
    records: dict[str, list[dict]] = field(default_factory=partial(defaultdict, list))
    coupon_sources: dict[int, str] = field(default_factory=dict)
    failures: list[Failure] = field(default_factory=list)
    size: int = field(init=False)
    # One past its last message of each partition: what to commit once it is stored.
    next_offsets: dict[Position, int] = field(init=False)

    def __post_init__(self):
        self.size = len(self.messages)
        self.next_offsets = {}
        for message in self.messages:
            position = position_of(message)
            self.next_offsets[position] = max(
                message.offset() + 1, self.next_offsets.get(position, 0)
            )

    def without(self, positions: set[Position]) -> "Batch":
        """Its messages of other partitions only, unprepared (those partitions left us)."""
        kept = [message for message in self.messages if position_of(message) not in positions]
        return Batch(kept, fetched=self.fetched)


# Fields that default to "now": on a topic, "now" is when the message was produced.
DEFAULT_TO_PRODUCE_TIME = {"users": "registration_date", "coupons": "timestamp"}


def _has_id(kind: str, record: dict) -> bool:
    return record.get("id") is not None or record.get(INPUT_SERIALIZERS[kind].id_alias) is not None


def _with_defaults(kind: str, record: dict, message, derived: dict) -> dict:
    """Fill what validation would fill differently on every replay: the id and "now".

    A record without an id gets the one derived from its message's place
    (`derived`: place -> id), and a missing registration date or coupon
    timestamp is the message's timestamp, so that replaying the topic
    stores exactly the same rows.
    """
    record = dict(record)
    if not _has_id(kind, record):
        record["id"] = derived[(message.topic(), message.partition(), message.offset())]
    when = DEFAULT_TO_PRODUCE_TIME.get(kind)
    timestamp_type, milliseconds = message.timestamp()
    if when and record.get(when) is None and timestamp_type != TIMESTAMP_NOT_AVAILABLE:
        record[when] = datetime.fromtimestamp(milliseconds / 1000, tz=UTC).isoformat()
    return record


def prepare(batch: Batch, derived_ids: DerivedIds) -> Batch:
    """The batch's messages (those without a Kafka error) decoded and validated: a new Batch.

    The ids of id-less records are derived for the whole batch at once
    (`DerivedIds.ids_for`: the database and the broker only for what it has
    not seen). Records are validated a kind at a time (`validate_records`),
    which is several times faster than one by one; each kind keeps its
    message order.
    """
    batch = Batch(batch.messages, fetched=batch.fetched)
    decoded = []  # (kind, message, data)
    for message in batch.messages:
        try:
            kind, data = decode(message.value(), topic=message.topic(), headers=message.headers())
        except DecodeError as error:
            batch.failures.append(
                Failure.of_message(message, error=str(error), error_kind=error.error_kind)
            )
            continue
        decoded.append((kind, message, data))
    derived = derived_ids.ids_for(
        (m.topic(), m.partition(), m.offset())
        for kind, m, data in decoded
        if not _has_id(kind, data)
    )
    by_kind = defaultdict(list)  # kind -> [(message, data)]
    for kind, message, data in decoded:
        by_kind[kind].append((message, _with_defaults(kind, data, message, derived)))
    for kind, items in by_kind.items():
        results = validate_records(kind, [data for _, data in items])
        for (message, _), result in zip(items, results, strict=True):
            if isinstance(result, InvalidRecord):
                batch.failures.append(
                    Failure.of_message(
                        message, error=str(result), error_kind=ErrorKind.INVALID_RECORD
                    )
                )
                continue
            batch.records[kind].append(result)
            if kind == "coupons":
                source = message_source(message.topic(), message.partition(), message.offset())
                batch.coupon_sources[result["id"]] = source
    return batch
