"""Dead letters (ingest/kafka/dead_letter.py): the message as it came, why and where, once each."""

import logging

import pytest
from confluent_kafka import KafkaException

from ingest.kafka.batch import Batch
from ingest.kafka.dead_letter import (
    DeadLetterPublisher,
    Failure,
    message_source,
    parse_source,
    publish_dead_letters,
    record_dead_letters,
)
from ingest.kafka.holding import Holding
from ingest.kafka.topics import Header
from ingest.models import DeadLetter
from tests.ingest.kafka.fakes import FakeProducer, PollingConsumer, record_message
from tests.records import user

SCHEMA_HEADERS = [(Header.SCHEMA.value, b"users"), (Header.SCHEMA_VERSION.value, b"1")]


def failure(offset=3, **changes) -> Failure:
    message = record_message("users", 1, offset, user(7, gender="Q"))
    return Failure.of_message(message, error="gender: not a choice", error_kind="invalid-record")


def test_a_failure_keeps_the_messages_place_key_value_and_headers():
    message = record_message("users", 1, 3, user(7, gender="Q"))
    failed = Failure.of_message(message, error="gender: not a choice", error_kind="invalid-record")
    assert (failed.topic, failed.partition, failed.offset) == ("users", 1, 3)
    assert (failed.key, failed.value) == (b"7", message.value())
    assert failed.headers == SCHEMA_HEADERS


def test_a_dead_letter_adds_why_and_where_under_the_header_enums_names():
    assert failure().dead_letter_headers() == SCHEMA_HEADERS + [
        (Header.ERROR.value, b"gender: not a choice"),
        (Header.ERROR_KIND.value, b"invalid-record"),
        (Header.ORIGINAL_TOPIC.value, b"users"),
        (Header.ORIGINAL_PARTITION.value, b"1"),
        (Header.ORIGINAL_OFFSET.value, b"3"),
    ]


def test_a_source_is_the_messages_place_and_anything_else_has_none():
    assert parse_source(message_source("t1.coupons", 2, 40)) == ("t1.coupons", 2, 40)
    assert parse_source("api") == (None, None, None)
    assert parse_source("") == (None, None, None)


@pytest.mark.django_db
def test_each_failure_is_recorded_once_even_when_its_batch_is_replayed():
    record_dead_letters([failure(3), failure(4)])
    record_dead_letters([failure(3)])  # the batch again, after a crash before the commit

    rows = DeadLetter.objects.order_by("offset")
    assert [(row.topic, row.partition, row.offset) for row in rows] == [
        ("users", 1, 3),
        ("users", 1, 4),
    ]
    assert rows[0].reason == "invalid-record: gender: not a choice"
    assert rows[0].key == "7"
    assert [Header.ERROR_KIND.value, "invalid-record"] in rows[0].headers
    assert all(row.published_at is not None for row in rows)


@pytest.mark.django_db
def test_failures_recorded_unpublished_wait_to_be_published_from_their_rows():
    record_dead_letters([failure()], published=False)
    assert DeadLetter.objects.get().published_at is None


def test_failures_are_published_to_their_topics_dead_letter_topic():
    producer = FakeProducer()
    publish_dead_letters(producer, [failure()], timeout=1)
    [message] = producer.published
    assert message["topic"] == "users.dlq"
    assert (message["key"], message["headers"]) == (b"7", failure().dead_letter_headers())


def test_a_broker_that_does_not_take_them_all_is_an_error_so_offsets_stay_uncommitted():
    with pytest.raises(KafkaException, match="not acknowledged"):
        publish_dead_letters(FakeProducer(down=True), [failure()], timeout=1)


def test_the_loops_dead_letters_wait_for_the_broker_with_the_partitions_paused(caplog):
    producer = FakeProducer(down=True)
    consumer = PollingConsumer()
    holding = Holding(consumer, should_stop=lambda: False)
    consumer.on_poll = lambda: setattr(producer, "down", False)  # the broker is back
    stored = Batch([record_message("users", 1, 3, user(7))], failures=[failure()])
    with caplog.at_level(logging.INFO):
        DeadLetterPublisher(producer, holding, should_stop=lambda: False).publish(stored)
    assert [message["topic"] for message in producer.published] == ["users.dlq"]
    assert (consumer.paused, consumer.resumed) == (1, 1)  # the last step the batch is held for
    assert "Kafka unavailable: 1 dead letters not acknowledged" in caplog.text
    assert "holding 1 dead letters, partitions paused" in caplog.text
    assert "stored the held 1 records after" in caplog.text
