"""Topic names, message headers and partitions: one name for each, used by producer and consumers.

Key: the record's id as text. Value: the record as UTF-8 JSON, the same shape
the HTTP API takes. Headers name the schema and its version.
"""

from enum import StrEnum

from django.conf import settings

RECORD_KINDS = ("users", "events", "coupons")
Position = tuple[str, int]  # a partition: (topic, partition number)
DEAD_LETTER_SUFFIX = ".dlq"
SCHEMA_VERSION = "1"


class Header(StrEnum):
    SCHEMA = "betreco-schema"  # the record kind: users, events or coupons
    SCHEMA_VERSION = "betreco-schema-version"
    # On dead letters:
    ERROR = "dead-letter-error"  # why the record can never be stored
    ERROR_KIND = "dead-letter-error-kind"  # an ErrorKind
    ORIGINAL_TOPIC = "dead-letter-original-topic"
    ORIGINAL_PARTITION = "dead-letter-original-partition"
    ORIGINAL_OFFSET = "dead-letter-original-offset"
    # On a dead letter published back to its source topic: how many times it was,
    # and the id of the DeadLetter row it was published from (the admin's chain).
    REPLAYED = "betreco-replayed"
    REPLAY_OF = "betreco-replay-of"


class ErrorKind(StrEnum):
    """Why a message went to its dead-letter topic: the `dead-letter-error-kind` header's values."""

    INVALID_JSON = "invalid-json"  # not UTF-8, not JSON, not an object, a bad envelope or schema
    INVALID_RECORD = "invalid-record"  # refused by validation
    REFUSED_BY_DATABASE = "refused-by-database"  # a constraint the database enforces
    UNRESOLVED = "unresolved"  # a parked coupon whose user or events never came


# The headers a dead letter adds, which a replay takes off again.
DEAD_LETTER_HEADERS = frozenset(
    {
        Header.ERROR,
        Header.ERROR_KIND,
        Header.ORIGINAL_TOPIC,
        Header.ORIGINAL_PARTITION,
        Header.ORIGINAL_OFFSET,
    }
)


def header_number(headers, name: Header) -> int | None:
    """The whole number in header `name` of (name, bytes or str) pairs; None if there is none."""
    for key, value in headers:
        text = value.decode("utf-8", errors="replace") if isinstance(value, bytes) else str(value)
        if key == name and text.isdigit():
            return int(text)
    return None


def topic_name(kind: str) -> str:
    """The topic for a record kind ('users', 'events', 'coupons'), with the configured prefix."""
    if kind not in RECORD_KINDS:
        raise ValueError(f"unknown record kind {kind!r}; expected one of {', '.join(RECORD_KINDS)}")
    return f"{settings.KAFKA_TOPIC_PREFIX}{kind}"


def kind_of_topic(topic: str) -> str:
    """The record kind a topic carries (the inverse of `topic_name`)."""
    kind = topic.removeprefix(settings.KAFKA_TOPIC_PREFIX)
    if kind not in RECORD_KINDS:
        raise ValueError(f"topic {topic!r} carries none of {', '.join(RECORD_KINDS)}")
    return kind


def dead_letter_topic(topic: str) -> str:
    return f"{topic}{DEAD_LETTER_SUFFIX}"


def position_of(message) -> Position:
    """The partition a consumed message came from."""
    return message.topic(), message.partition()
