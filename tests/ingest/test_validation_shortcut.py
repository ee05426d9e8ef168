"""The validation shortcut gives the serializers' answer, or steps aside (docs/records.md).

Records are generated from pools of values per field, plain and not:
valid ones, each kind of wrong type, out of range, blank, too long,
with NUL or a lone surrogate, aliases, unknown keys. For every record the
shortcut either returns exactly what the serializer validates it to, or
None; it never accepts a record the serializer refuses. Plain valid
records (what the producer writes) do take it.
"""

import random
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.utils import timezone

from ingest.ids import MAX_ID
from ingest.validation import INPUT_SERIALIZERS, InvalidRecord, validate_record, validate_records
from ingest.validation_shortcut import shortcut
from tests import records

pytestmark = pytest.mark.django_db  # the serializer leases an id for a record without one

# Each pool: valid values first, then (after the None marker) the others.
IDS = [0, 1, 7, MAX_ID, "12", "007", 1.0, None, MAX_ID + 1, -1, True, 2.5, " 12", "x", [], {}]
IDS += ["１２", "1_000", "12.0", "+12", str(MAX_ID + 1)]
STAMPS = [
    "2030-05-01T18:00:00Z",
    "2030-05-01 18:00:00",
    "2030-05-01T18:00:00.123456+05:30",
    "2030-05-01T18:00:00-02:00",
    None,
    "2030-05-01",
    "2030-13-01T00:00:00",
    "2030-02-30T00:00:00Z",
    "9999-12-31T23:59:59-01:00",
    "",
    " ",
    1_900_000_000,
    True,
    [],
]
CODES = ["GR", "gr", " grc ", "UK", "EL", "GRC", None, "XX", "", "  ", "G\x00R", "\ud800R", 30]
CODES += [True]
CURRENCIES = ["EUR", "eur", " usd ", None, "EURO", "XYZ", "", 978]
DECIMALS = [
    2,
    1.5,
    2.198585851522301,
    "1.50",
    " 3.14 ",
    "1e3",
    Decimal("2.5"),
    "1.00001",
    None,
    "NaN",
    "Infinity",
    "-Infinity",
    "0",
    "0.00001",
    -1,
    10**13,
    "9" * 11,
    "1" * 1001,
    True,
    1,
    "",
    "abc",
    [],
]
TEXTS = ["Football", " Premier League ", "x" * 100, "München", 5, None, "", "   ", "x" * 101]
TEXTS += ["x" * 201, "a\x00b", "\ud800", True, ["a"]]
TEAMS = [["A", "B"], [" A ", "b"], ["Ä", "Ö"], None, ["A", "a"], ["A"], ["A", "B", "C"], []]
TEAMS += [["A", ""], ["A", 5], ["A", None], "AB", ("A", "B"), ["A", "x" * 201]]
GENDERS = ["M", "F", "X", None, "m", "", "Q", 1]
YEARS = [1990, 1900, timezone.now().year - 18, "1990", 1990.0, None, 1899, timezone.now().year]
YEARS += [True]


def _maybe(rng: random.Random, record: dict, name: str, pool: list) -> None:
    """Set the field from its pool, mostly a valid value, or (now and then) leave it out."""
    if rng.random() < 0.97:
        valid, others = pool[: pool.index(None)], pool[pool.index(None) :]
        record[name] = rng.choice(valid if rng.random() < 0.8 else others)


FIELDS = {
    "users": [
        ("id", IDS),
        ("birth_year", YEARS),
        ("country", CODES),
        ("currency", CURRENCIES),
        ("gender", GENDERS),
        ("registration_date", STAMPS),
    ],
    "events": [
        ("id", IDS),
        ("begin_timestamp", STAMPS),
        ("end_timestamp", STAMPS),
        ("country", CODES),
        ("league", TEXTS),
        ("sport", TEXTS),
        ("participants", TEAMS),
    ],
    "coupons": [("id", IDS), ("user_id", IDS), ("stake", DECIMALS), ("timestamp", STAMPS)],
}


def _fields(rng: random.Random, kind: str) -> dict:
    record = {}
    for name, pool in FIELDS[kind]:
        _maybe(rng, record, name, pool)
    return record


def _selection(rng: random.Random):
    if rng.random() < 0.05:
        return rng.choice([None, 5, "x", [1, 2]])
    selection = {}
    _maybe(rng, selection, "event_id", IDS)
    _maybe(rng, selection, "odds", DECIMALS)
    return selection


def _record(rng: random.Random, kind: str) -> dict:
    record = _fields(rng, kind)
    if kind != "coupons":
        return record
    if rng.random() < 0.95:
        record["selections"] = [_selection(rng) for _ in range(rng.choice([0, 1, 1, 2, 3]))]
        if rng.random() < 0.05:
            record["selections"] = rng.choice([None, {}, "x", ({"event_id": 1, "odds": 2},)])
    return record


ALIASES = {"users": "user_id", "events": "event_id", "coupons": "coupon_id"}


def _extras(rng: random.Random, kind: str, record: dict) -> dict:
    """Now and then an alias, an unknown key, or both."""
    if rng.random() < 0.1:
        record[ALIASES[kind]] = rng.choice(IDS)
    if rng.random() < 0.1:
        record["unknown"] = "ignored"
    return record


def _serializer_answer(kind: str, data):
    serializer = INPUT_SERIALIZERS[kind](data=data)
    return dict(serializer.validated_data) if serializer.is_valid() else None


def _without_defaults(record: dict) -> dict:
    """Fields the serializers default to now differ by microseconds between two calls."""
    return {name: value for name, value in record.items() if name not in DEFAULTED}


DEFAULTED = {"registration_date", "timestamp"}


@pytest.mark.parametrize("kind", ["users", "events", "coupons"])
def test_the_shortcut_answers_as_the_serializer_or_steps_aside(kind):
    rng = random.Random(f"shortcut-{kind}")
    taken = refused = 0
    for _ in range(3000):
        data = _extras(rng, kind, _record(rng, kind))
        fast, slow = shortcut(kind, data), _serializer_answer(kind, data)
        if fast is None:
            continue
        assert slow is not None, f"the shortcut accepted what the serializer refuses: {data!r}"
        assert list(fast) == list(slow), data  # the same fields, in the same order
        defaulted = DEFAULTED & set(fast) - set(data)
        assert _without_defaults(fast) == _without_defaults(slow) if defaulted else fast == slow
        taken += 1
    for _ in range(200):  # and refused ones are refused with the serializer's errors
        data = _extras(rng, kind, _record(rng, kind))
        if _serializer_answer(kind, data) is None:
            with pytest.raises(InvalidRecord) as refusal:
                validate_record(kind, data)
            serializer = INPUT_SERIALIZERS[kind](data=data)
            serializer.is_valid()
            assert refusal.value.errors == serializer.errors
            refused += 1
    assert taken > 20
    assert refused > 20


@pytest.mark.parametrize(
    ("kind", "plain"),
    [
        ("users", records.user(11)),
        ("events", records.event(12)),
        ("coupons", records.coupon(13, user_id=11, selections=[12, (14, "2.5")])),
    ],
)
def test_plain_records_take_the_shortcut(kind, plain):
    fast = shortcut(kind, plain)
    assert fast is not None
    assert _without_defaults(fast) == _without_defaults(_serializer_answer(kind, plain))


def test_a_default_is_now_on_the_shortcut_too():
    before = datetime.now(UTC)
    user = shortcut("users", {k: v for k, v in records.user(11).items()})
    coupon = shortcut("coupons", {**records.coupon(13, user_id=11), "timestamp": None})
    del_timestamp = {k: v for k, v in records.coupon(13, user_id=11).items() if k != "timestamp"}
    assert coupon is None  # null is an error the serializer names
    assert before <= shortcut("coupons", del_timestamp)["timestamp"] <= datetime.now(UTC)
    assert user["registration_date"] <= datetime.now(UTC)


def test_an_array_mixes_both_paths_in_order():
    good = records.user(21)
    aliased = {**{k: v for k, v in records.user().items()}, "user_id": "22"}
    bad = {**records.user(23), "country": "XX"}
    results = validate_records("users", [good, aliased, bad, good])
    assert [r["id"] for r in (results[0], results[1], results[3])] == [21, 22, 21]
    assert isinstance(results[2], InvalidRecord)
    assert "country" in results[2].errors
