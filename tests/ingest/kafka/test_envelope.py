"""Decoding message values: our format, the seed's envelope, and what is neither."""

import json

import pytest

from ingest.kafka.envelope import DecodeError, decode
from ingest.kafka.topics import Header

USER = {"user_id": 79859, "birth_year": 1970, "country": "AL", "currency": "EUR", "gender": "M"}


@pytest.fixture(autouse=True)
def _prefix(settings):
    settings.KAFKA_TOPIC_PREFIX = "prod."


def test_our_format_takes_its_kind_from_the_topic():
    assert decode(json.dumps(USER).encode(), topic="prod.users") == ("users", USER)


def test_our_format_takes_its_kind_from_the_schema_header():
    headers = [(Header.SCHEMA.value, b"events")]

    kind, _ = decode(b'{"id": 1}', topic="elsewhere", headers=headers)

    assert kind == "events"


def test_the_seed_envelope_carries_the_record_as_a_json_string():
    value = json.dumps({"op": "users", "data": json.dumps(USER)}).encode()

    assert decode(value, topic="prod.users") == ("users", USER)


def test_the_seed_envelope_may_carry_the_record_as_an_object():
    value = json.dumps({"op": "coupons", "data": {"coupon_id": 4587}}).encode()

    assert decode(value, topic="prod.coupons") == ("coupons", {"coupon_id": 4587})


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (b"\xff\xfe", "not UTF-8"),
        (b"{not json", "value is not valid JSON"),
        (b"[1, 2]", "expected a JSON object, got list"),
        (b'"text"', "expected a JSON object, got str"),
        (None, "empty message"),
        (b'{"op": "bets", "data": "{}"}', "'op' is 'bets'"),
        (b'{"op": "users", "data": "{oops"}', "seed envelope 'data' is not valid JSON"),
        (b'{"op": "users", "data": "[1]"}', "expected a JSON object, got list"),
    ],
)
def test_what_is_no_record_raises_a_decode_error_saying_why(value, reason):
    with pytest.raises(DecodeError, match=reason):
        decode(value, topic="prod.users")


def test_a_topic_of_no_known_kind_without_a_schema_header_is_a_decode_error():
    with pytest.raises(DecodeError, match="carries none of"):
        decode(b'{"id": 1}', topic="prod.bets")


def test_a_schema_header_naming_an_unknown_kind_is_a_decode_error():
    with pytest.raises(DecodeError, match="names 'bets'"):
        decode(b'{"id": 1}', topic="prod.users", headers=[(Header.SCHEMA.value, b"bets")])
