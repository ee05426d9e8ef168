"""Topic names, headers and error kinds (ingest/kafka/topics.py): one name for each."""

import pytest

from betreco.processes import PROJECT_DIR
from ingest.kafka.topics import (
    DEAD_LETTER_HEADERS,
    ErrorKind,
    Header,
    dead_letter_topic,
    kind_of_topic,
    topic_name,
)


@pytest.fixture(autouse=True)
def _prefix(settings):
    settings.KAFKA_TOPIC_PREFIX = "prod."


def test_a_kinds_topic_carries_the_prefix_and_names_its_kind_back():
    assert topic_name("coupons") == "prod.coupons"
    assert kind_of_topic("prod.coupons") == "coupons"


def test_an_unknown_kind_is_refused_naming_the_kinds():
    with pytest.raises(ValueError, match="expected one of users, events, coupons"):
        topic_name("bets")


def test_a_topic_under_another_prefix_carries_no_kind():
    with pytest.raises(ValueError, match="carries none of users, events, coupons"):
        kind_of_topic("dev.coupons")


def test_a_dead_letter_topic_is_its_topic_with_dlq():
    assert dead_letter_topic(topic_name("users")) == "prod.users.dlq"


def test_a_replay_takes_off_only_the_headers_a_dead_letter_added():
    assert Header.ERROR_KIND in DEAD_LETTER_HEADERS
    assert Header.SCHEMA not in DEAD_LETTER_HEADERS
    assert Header.REPLAYED not in DEAD_LETTER_HEADERS


def test_every_error_kind_is_documented_with_the_dead_letter_headers():
    contract = (PROJECT_DIR / "docs" / "kafka.md").read_text()
    assert [kind for kind in ErrorKind if f"`{kind}`" not in contract] == []
