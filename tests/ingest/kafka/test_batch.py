"""One consumed batch (ingest/kafka/batch.py): its messages, decoded and validated."""

from datetime import UTC, datetime

import pytest
from confluent_kafka import TIMESTAMP_CREATE_TIME

from ingest.kafka.batch import Batch, prepare
from ingest.kafka.derived_ids import DerivedIds
from ingest.kafka.topics import ErrorKind
from tests.ingest.kafka.fakes import FakeMessage, record_message
from tests.records import coupon, event, user

PRODUCED_AT = datetime(2031, 3, 4, 5, 6, 7, tzinfo=UTC)
PRODUCED_MS = int(PRODUCED_AT.timestamp() * 1000)


def prepared(messages) -> Batch:
    return prepare(Batch(messages), derived_ids())


def derived_ids() -> DerivedIds:
    """Topic ids from the test, not the broker (only id-less records ask for them)."""
    return DerivedIds(topic_ids=lambda topics: {topic: "incarnation-1" for topic in topics})


def test_valid_messages_become_records_by_kind_in_message_order():
    batch = prepared(
        [
            record_message("users", 0, 0, user(2)),
            record_message("events", 0, 0, event(10)),
            record_message("users", 0, 1, user(1)),
        ]
    )
    assert [record["id"] for record in batch.records["users"]] == [2, 1]
    assert [record["id"] for record in batch.records["events"]] == [10]
    assert batch.failures == []
    assert batch.size == 3


def test_a_value_that_is_not_json_becomes_a_failure_saying_so():
    batch = prepared([record_message("users", 0, 4, b"{not json")])
    [failure] = batch.failures
    assert (failure.topic, failure.partition, failure.offset) == ("users", 0, 4)
    assert failure.error_kind == "invalid-json"
    assert failure.value == b"{not json"
    assert batch.records["users"] == []


def test_an_invalid_record_becomes_a_failure_and_the_rest_of_the_batch_is_kept():
    batch = prepared(
        [
            record_message("users", 0, 0, user(1)),
            record_message("users", 0, 1, user(2, gender="Q")),
            record_message("users", 0, 2, user(3)),
        ]
    )
    [failure] = batch.failures
    assert failure.offset == 1
    assert failure.error_kind == ErrorKind.INVALID_RECORD
    assert "gender" in failure.error
    assert [record["id"] for record in batch.records["users"]] == [1, 3]


def test_the_next_offsets_are_one_past_the_last_message_of_each_partition_failures_included():
    batch = prepared(
        [
            record_message("users", 0, 7, user(1)),
            record_message("users", 1, 3, user(2)),
            record_message("users", 0, 8, b"[]"),
        ]
    )
    assert batch.next_offsets == {("users", 0): 9, ("users", 1): 4}


def test_a_batch_without_a_partition_keeps_the_others_messages_unprepared():
    batch = prepared(
        [
            record_message("users", 0, 7, user(1)),
            record_message("users", 1, 3, user(2)),
            record_message("users", 0, 8, user(3)),
        ]
    )
    kept = batch.without({("users", 0)})
    assert [m.offset() for m in kept.messages] == [3]
    assert kept.next_offsets == {("users", 1): 4}
    assert kept.records["users"] == []  # to be prepared again


def test_a_missing_registration_date_and_coupon_timestamp_are_the_messages_timestamp():
    produced = {"timestamp": (TIMESTAMP_CREATE_TIME, PRODUCED_MS)}
    batch = prepared(
        [
            record_message("users", 0, 0, user(1), **produced),
            record_message("coupons", 0, 0, {**coupon(9, 1), "timestamp": None}, **produced),
        ]
    )
    assert batch.records["users"][0]["registration_date"] == PRODUCED_AT
    assert batch.records["coupons"][0]["timestamp"] == PRODUCED_AT


def test_a_timestamp_the_record_carries_wins_over_the_messages():
    batch = prepared(
        [record_message("coupons", 0, 0, coupon(9, 1), timestamp=(TIMESTAMP_CREATE_TIME, 0))]
    )
    assert batch.records["coupons"][0]["timestamp"] == datetime(2030, 4, 1, 10, tzinfo=UTC)


def test_a_coupon_keeps_the_place_of_its_message_as_its_source():
    batch = prepared([record_message("coupons", 2, 40, coupon(9, 1))])
    assert batch.coupon_sources == {9: "coupons/2/40"}


def test_a_message_of_a_topic_of_no_kind_without_schema_headers_is_a_failure():
    batch = prepared([FakeMessage("bets", 0, 0, value=b'{"id": 1}')])
    assert [failure.error_kind for failure in batch.failures] == ["invalid-json"]


@pytest.mark.django_db
def test_records_without_an_id_get_the_same_derived_id_each_time_their_message_is_prepared():
    message = record_message("users", 0, 5, user())
    first = prepared([message]).records["users"][0]["id"]
    again = prepared([message]).records["users"][0]["id"]  # a fresh cache
    other = prepared([record_message("users", 0, 6, user())])
    assert first == again
    assert other.records["users"][0]["id"] != first
