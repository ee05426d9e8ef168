"""`manage.py consume_topic`: which topics it consumes, from arguments or the seed's TOPICS."""

import pytest
from django.core.management import CommandError, call_command

from ingest.management.commands.consume_topic import resolve_topics


@pytest.fixture(autouse=True)
def _prefix(settings):
    settings.KAFKA_TOPIC_PREFIX = "prod."


def test_plain_kinds_and_prefixed_topic_names_both_name_topics_once():
    assert resolve_topics(["users", "prod.events", "prod.users"]) == ["prod.users", "prod.events"]


def test_a_topic_of_no_known_kind_is_refused_with_the_kinds_it_could_be():
    with pytest.raises(CommandError, match="carries none of users, events, coupons"):
        resolve_topics(["bets"])


def test_without_topics_and_without_topics_setting_it_says_what_to_do(settings):
    settings.TOPICS = []

    with pytest.raises(CommandError, match="name the topics to consume"):
        call_command("consume_topic")


def test_the_seeds_topics_variable_is_checked_like_arguments(settings):
    settings.TOPICS = ["users", "test_topic"]

    with pytest.raises(CommandError, match="topic 'test_topic' carries none of"):
        call_command("consume_topic")
