"""Id-less records through the broker (docs/records.md): a recreated topic or a restarted broker
(offsets from 0 again) never replaces stored rows, and a replay stores nothing new."""

import uuid
from collections import Counter

import pytest
from confluent_kafka.admin import NewTopic

from betreco.embedded_broker import EmbeddedBroker
from ingest.ids import FIRST_DERIVED_ID, MAX_ASSIGNED_ID
from ingest.kafka.admin import admin_client, ensure_topics
from ingest.models import User
from tests.e2e.outages import database_outage
from tests.e2e.test_consumer_outage import outage_env
from tests.kafka_pipeline import Pipeline, wait_until
from tests.records import user

pytestmark = [pytest.mark.kafka, pytest.mark.django_db(transaction=True)]


def idless(birth_year: int, count: int = 3) -> list[dict]:
    """Users without an id; the birth year tells the runs apart."""
    return [
        {k: v for k, v in user(0, birth_year=birth_year).items() if k != "id"} for _ in range(count)
    ]


def stored() -> dict[int, int]:
    return dict(User.objects.values_list("id", "birth_year"))


def new_topic(pipeline: Pipeline, kind: str) -> None:
    """Delete `kind`'s topic if it exists and create it again with one partition, empty."""
    admin = admin_client(pipeline.bootstrap)
    topic = pipeline.topic(kind)
    if topic in admin.list_topics(timeout=10).topics:
        for future in admin.delete_topics([topic], operation_timeout=10).values():
            future.result(timeout=15)
        wait_until(lambda: topic not in admin.list_topics(timeout=10).topics, what="the topic gone")
    for future in admin.create_topics([NewTopic(topic, 1, 1)]).values():
        future.result(timeout=15)


def test_a_recreated_topic_stores_its_idless_records_beside_the_old_ones(pipeline):
    new_topic(pipeline, "users")
    first = pipeline.produce("users", idless(1981))
    pipeline.consume("users")
    before = stored()

    new_topic(pipeline, "users")  # offsets from 0 again, a new topic id
    second = pipeline.produce("users", idless(1982))
    pipeline.consume("users", "--group", f"{pipeline.prefix}second")

    assert [(d.partition, d.offset) for d in second] == [(d.partition, d.offset) for d in first]
    after = stored()
    assert Counter(after.values()) == {1981: 3, 1982: 3}
    assert {pk: after[pk] for pk in before} == before  # the first run's rows untouched
    assert all(FIRST_DERIVED_ID <= pk <= MAX_ASSIGNED_ID for pk in after)

    pipeline.consume("users", "--group", f"{pipeline.prefix}replay")  # from offset 0
    assert stored() == after


def test_after_the_broker_restarts_empty_idless_records_are_stored_beside_earlier_ones(
    transactional_db, settings, tmp_path
):
    """What `make run` does every time: a new embedded broker, the same database."""
    settings.KAFKA_TOPIC_PREFIX = prefix = f"t{uuid.uuid4().hex[:10]}."
    for run, birth_year in enumerate((1981, 1982)):
        with EmbeddedBroker() as broker:
            ensure_topics(broker.bootstrap_servers, ["users"])
            (tmp_path / str(run)).mkdir()
            line = Pipeline(broker.bootstrap_servers, prefix, tmp_path / str(run))
            line.produce("users", idless(birth_year))
            line.consume("users")
            if run == 1:
                line.consume("users", "--group", f"{prefix}replay")
            line.stop_all()

    assert Counter(stored().values()) == {1981: 3, 1982: 3}


def test_ids_are_derived_once_a_database_outage_ends_and_a_replay_gives_the_same(pipeline):
    consumer = pipeline.start_consumer("users", env=outage_env(pipeline))
    wait_until(lambda: "assigned" in consumer.log, timeout=60, what="the consumer to join")
    with database_outage():
        pipeline.produce("users", idless(1983, count=5))
        wait_until(
            lambda: "deriving ids for a batch of" in consumer.log, what="the failed derivation"
        )
    wait_until(lambda: User.objects.count() == 5, what="the held users stored")
    first = stored()

    pipeline.consume("users", "--group", f"{pipeline.prefix}replay")
    assert stored() == first
