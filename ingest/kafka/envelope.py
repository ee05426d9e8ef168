"""Decoding a message value into a record kind and the record (docs/kafka.md).

Two formats arrive on the topics:

- ours: the record itself as UTF-8 JSON; its kind is named by the
  `betreco-schema` header, or else by the topic it came from;
- the seed's: `{"op": "users", "data": "<the record as a JSON string>"}`
  (`data` may also be the object itself), so the seed's producers keep
  working unchanged.

Anything else is a `DecodeError`, whose message says what is wrong, for the
dead-letter headers.
"""

import json
from collections.abc import Iterable

from ingest.kafka.topics import RECORD_KINDS, ErrorKind, Header, kind_of_topic


class DecodeError(Exception):
    """A message value that is not a record in either format; str() says why."""

    error_kind = ErrorKind.INVALID_JSON


def header_value(headers: Iterable[tuple[str, bytes]] | None, name: str) -> str | None:
    """The last value of header `name` as text, or None."""
    found = None
    for key, value in headers or ():
        if key == name and value is not None:
            found = value.decode("utf-8", errors="replace")
    return found


def _kind_from(topic: str, headers) -> str:
    schema = header_value(headers, Header.SCHEMA)
    if schema in RECORD_KINDS:
        return schema
    if schema is not None:
        raise DecodeError(f"header {Header.SCHEMA} names {schema!r}, not one of {RECORD_KINDS}")
    try:
        return kind_of_topic(topic)
    except ValueError as error:
        raise DecodeError(str(error)) from error


def _parse_json(text: str, what: str):
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise DecodeError(f"{what} is not valid JSON: {error}") from error


def _unwrap_seed(envelope: dict) -> tuple[str, object]:
    op, data = envelope["op"], envelope["data"]
    if op not in RECORD_KINDS:
        raise DecodeError(f"seed envelope 'op' is {op!r}, not one of {', '.join(RECORD_KINDS)}")
    if isinstance(data, str | bytes):
        data = _parse_json(data, "seed envelope 'data'")
    return op, data


def is_seed_envelope(value) -> bool:
    return isinstance(value, dict) and set(value) == {"op", "data"}


def decode(value: bytes | None, *, topic: str, headers=None) -> tuple[str, dict]:
    """(kind, record) for a message value in our format or the seed's; raise DecodeError."""
    if value is None:
        raise DecodeError("empty message (no value)")
    try:
        text = value.decode("utf-8")
    except UnicodeDecodeError as error:
        raise DecodeError(f"value is not UTF-8: {error}") from error
    parsed = _parse_json(text, "value")
    if is_seed_envelope(parsed):
        kind, record = _unwrap_seed(parsed)
    else:
        kind, record = _kind_from(topic, headers), parsed
    if not isinstance(record, dict):
        raise DecodeError(f"expected a JSON object, got {type(record).__name__}")
    return kind, record
