"""Topic administration: the topics the service creates, with the configured settings."""

from concurrent.futures import Future
from types import SimpleNamespace

from ingest.kafka import admin


def test_topics_are_created_with_the_configured_replication_factor(settings, monkeypatch):
    settings.KAFKA_TOPIC_PARTITIONS = 6
    settings.KAFKA_TOPIC_REPLICATION_FACTOR = 3
    created = []

    def create_topics(topics, **_):
        created.extend(topics)
        futures = {topic.topic: Future() for topic in topics}
        for future in futures.values():
            future.set_result(None)
        return futures

    fake = SimpleNamespace(
        list_topics=lambda **_: SimpleNamespace(topics={}), create_topics=create_topics
    )
    monkeypatch.setattr(admin, "admin_client", lambda *_: fake)
    names = admin.ensure_topics("k:9093", ["users"])
    assert sorted(names) == sorted(admin.topic_names(["users"]))
    assert {(t.num_partitions, t.replication_factor) for t in created} == {(6, 3)}
    assert any(t.topic.endswith(".dlq") for t in created)
