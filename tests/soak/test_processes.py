"""The soak's consumers keep one shape: every process over all three topics, or one topic
each, never both in one group (librdkafka's sticky assignor crashed on the mix,
docs/reliability.md)."""

import pytest

from soak import processes as soak_processes
from soak.processes import KINDS, Consumers


class Started:
    """A started consumer that stays alive until killed."""

    def __init__(self, name, *_args):
        self.name = name
        self.code = None

    def exit_code(self):
        return self.code

    def alive(self):
        return self.code is None

    def kill(self):
        self.code = -9


@pytest.fixture
def started(monkeypatch):
    monkeypatch.setattr(soak_processes.processes, "start_consumer", Started)


def shapes(consumers: Consumers) -> set[tuple[str, ...]]:
    return {consumers.topics[name] for name in consumers.live()}


def test_per_topic_consumers_start_one_per_topic_and_join_where_fewest_consume(started, tmp_path):
    consumers = Consumers({}, tmp_path, per_topic=True)
    consumers.start_first(2)
    assert consumers.per_topic_counts() == dict.fromkeys(KINDS, 1)
    consumers.start()
    consumers.start()
    assert sorted(consumers.per_topic_counts().values()) == [1, 2, 2]
    assert len(consumers.scale_to(2)) == 1
    assert consumers.per_topic_counts() == dict.fromkeys(KINDS, 2)
    assert shapes(consumers) == {(kind,) for kind in KINDS}


def test_a_killed_consumer_restarts_over_the_same_topic(started, tmp_path):
    consumers = Consumers({}, tmp_path, per_topic=True)
    consumers.start_first(2)
    victim = next(name for name in consumers.live() if consumers.topics[name] == ("events",))
    consumers.kill(victim)
    assert consumers.per_topic_counts()["events"] == 0
    consumers.start(victim)
    assert consumers.per_topic_counts() == dict.fromkeys(KINDS, 1)


def test_only_a_consumer_whose_topics_others_also_consume_is_spare(started, tmp_path):
    consumers = Consumers({}, tmp_path, per_topic=True)
    consumers.start_first(2)
    assert consumers.spare() == []
    extra = consumers.start()
    twin = [n for n in consumers.live() if consumers.topics[n] == consumers.topics[extra]]
    assert sorted(consumers.spare()) == sorted(twin)


def test_consumers_over_all_topics_stay_over_all_topics(started, tmp_path):
    consumers = Consumers({}, tmp_path)
    consumers.start_first(2)
    consumers.start()
    consumers.scale_to(2)
    assert len(consumers.live()) == 3
    assert shapes(consumers) == {KINDS}
    assert len(consumers.spare()) == 3
