"""A shortcut through the input serializers for records in the form betreco's producer writes.

Every message a consumer reads, and most arrays the producer and
`load_dummy` take, are already in that form: an id (or its alias, not
both) as an integer or digits, codes, timestamps and names as strings. For those, DRF's machinery (a
serializer per record, each field's value looked up, errors gathered)
costs far more than the rules themselves: it was a quarter of a
consumer's CPU (docs/performance.md). `shortcut` checks such a record
with the serializers' own fields and `validate*` methods, called
directly, and returns what the serializer would have. Anything else (a
value of another type, both id and alias, no id, a rule broken) returns None, and
the caller runs the serializer, which gives the same answer the slow way,
or the errors. tests/ingest/test_validation_shortcut.py holds the two to
the same answers over thousands of generated records, valid and not.
"""

from collections.abc import Callable
from functools import cache, lru_cache

from rest_framework import serializers

from ingest.ids import MAX_ID
from ingest.validation import CouponInput, EventInput, SelectionInput, UserInput


class _NotPlain(Exception):
    """This record is for the serializer: not in the plain form, or not valid."""


def shortcut(kind: str, data) -> dict | None:
    """`data` validated as its serializer would, when it is in the plain form; else None."""
    if type(data) is not dict:
        return None
    try:
        return _CHECKS[kind](data)
    except (_NotPlain, KeyError, serializers.ValidationError):
        return None


@cache
def _rules(serializer_class) -> serializers.Serializer:
    """An instance of an input serializer, for its bound fields and its rules."""
    return serializer_class()


def _field(serializer_class, name: str) -> serializers.Field:
    return _rules(serializer_class).fields[name]


def _id(value) -> int:
    """An id as an integer, or as ASCII digits (the seed sends event ids so)."""
    if type(value) is str and value.isascii() and value.isdigit():
        value = int(value)
    if type(value) is not int or not 0 <= value <= MAX_ID:
        raise _NotPlain
    return value


def _through(field: serializers.Field, value):
    """The field's own conversion and validators, for a string or a number."""
    if type(value) not in (str, int, float):
        raise _NotPlain
    return field.run_validation(value)


@lru_cache(maxsize=1024)
def _code(serializer_class, name: str, value: str) -> str | None:
    """A country or currency code as its field normalizes it; None when it is not one."""
    try:
        return _field(serializer_class, name).run_validation(value)
    except serializers.ValidationError:
        return None


def _known_code(serializer_class, name: str, value) -> str:
    code = _code(serializer_class, name, value) if type(value) is str else None
    if code is None:
        raise _NotPlain
    return code


def _plain_record(data: dict, serializer_class) -> dict:
    """The record's id, under its name or its alias (not both); the start of its fields."""
    alias = serializer_class.id_alias
    if alias in data and "id" in data:
        raise _NotPlain
    return {"id": _id(data[alias] if alias in data else data["id"])}


def _user(data: dict) -> dict:
    rules = _rules(UserInput)
    record = _plain_record(data, UserInput)
    birth_year = data["birth_year"]
    if type(birth_year) is not int:
        raise _NotPlain
    record["birth_year"] = rules.validate_birth_year(birth_year)
    record["country"] = _known_code(UserInput, "country", data["country"])
    record["currency"] = _known_code(UserInput, "currency", data["currency"])
    gender = data["gender"]
    if type(gender) is not str:
        raise _NotPlain
    record["gender"] = _field(UserInput, "gender").run_validation(gender)
    if "registration_date" in data:
        record["registration_date"] = _through(
            _field(UserInput, "registration_date"), data["registration_date"]
        )
    return rules.validate(record)


def _event(data: dict) -> dict:
    rules = _rules(EventInput)
    record = _plain_record(data, EventInput)
    for name in ("begin_timestamp", "end_timestamp"):
        record[name] = _through(_field(EventInput, name), data[name])
    record["country"] = _known_code(EventInput, "country", data["country"])
    for name in ("league", "sport"):
        record[name] = _through(_field(EventInput, name), data[name])
    participants = data["participants"]
    if type(participants) is not list or not all(type(p) is str for p in participants):
        raise _NotPlain
    record["participants"] = rules.validate_participants(
        _field(EventInput, "participants").run_validation(participants)
    )
    return rules.validate(record)


def _selection(data) -> dict:
    if type(data) is not dict:
        raise _NotPlain
    odds = _through(_field(SelectionInput, "odds"), data["odds"])
    return {"event_id": _id(data["event_id"]), "odds": _rules(SelectionInput).validate_odds(odds)}


def _coupon(data: dict) -> dict:
    rules = _rules(CouponInput)
    record = _plain_record(data, CouponInput)
    record["user_id"] = _id(data["user_id"])
    record["stake"] = rules.validate_stake(_through(_field(CouponInput, "stake"), data["stake"]))
    if "timestamp" in data:
        record["timestamp"] = _through(_field(CouponInput, "timestamp"), data["timestamp"])
    selections = data["selections"]
    if type(selections) is not list or not selections:
        raise _NotPlain
    record["selections"] = rules.validate_selections([_selection(s) for s in selections])
    return rules.validate(record)


_CHECKS: dict[str, Callable[[dict], dict]] = {
    "users": _user,
    "events": _event,
    "coupons": _coupon,
}
