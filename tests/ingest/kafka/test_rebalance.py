"""Commit and rebalances (ingest/kafka/rebalance.py), with a fake consumer."""

from confluent_kafka import TopicPartition

from ingest.kafka.batch import Batch
from ingest.kafka.derived_ids import DerivedIds
from ingest.kafka.holding import Holding
from ingest.kafka.offsets import Offsets
from ingest.kafka.poll import Poller
from ingest.kafka.rebalance import Partitions
from tests.ingest.kafka.fakes import FakeConsumer, ScriptedConsumer, messages, offsets_of

USERS_0, USERS_1 = ("users", 0), ("users", 1)


def partitions_of(consumer) -> Partitions:
    holding = Holding(consumer, should_stop=lambda: False)
    poller = Poller(
        consumer, Offsets(consumer, gap_wait=5), poll_timeout=5, should_stop=lambda: False
    )
    return Partitions(consumer, holding=holding, poller=poller, derived_ids=DerivedIds())


def stored(*placed) -> Batch:
    """A stored batch of messages at (topic, partition, offset)."""
    return Batch(sum((messages(t, p, [o]) for t, p, o in placed), []))


def test_a_stored_batch_commits_one_past_its_last_message_of_each_partition():
    consumer = FakeConsumer(assigned=[USERS_0, USERS_1])
    partitions = partitions_of(consumer)
    partitions.commit(stored(("users", 0, 7), ("users", 0, 8), ("users", 1, 3)), polling=True)
    partitions.holding.close()
    assert consumer.commits == [{USERS_0: 9, USERS_1: 4}]
    assert partitions.pending == {}


def test_a_commit_that_fails_is_kept_for_the_next_attempt():
    consumer = FakeConsumer(assigned=[USERS_0])
    partitions = partitions_of(consumer)
    consumer.refuse_commits = True
    partitions.commit(stored(("users", 0, 7)))
    assert partitions.pending == {USERS_0: 8}
    consumer.refuse_commits = False
    partitions.commit()
    assert consumer.commits == [{USERS_0: 8}]


def test_a_partition_lost_while_its_batch_was_stored_is_left_to_its_new_owner():
    consumer = FakeConsumer(assigned=[USERS_1])
    partitions = partitions_of(consumer)
    consumer.refuse_commits = True
    partitions.commit(stored(("users", 0, 7), ("users", 1, 3)))
    assert partitions.pending == {USERS_1: 4}


def test_a_revoked_partition_commits_what_is_stored_of_it_first():
    consumer = FakeConsumer(assigned=[USERS_0, USERS_1])
    partitions = partitions_of(consumer)
    consumer.refuse_commits = True
    partitions.commit(stored(("users", 0, 7), ("users", 1, 3)))
    consumer.refuse_commits = False
    partitions.revoked(consumer, [TopicPartition("users", 0)])
    assert consumer.commits == [{USERS_0: 8}]
    assert partitions.pending == {USERS_1: 4}
    assert partitions.holding.gone == {USERS_0}


def test_a_lost_partition_is_forgotten_without_a_commit():
    consumer = FakeConsumer(assigned=[USERS_0])
    partitions = partitions_of(consumer)
    consumer.refuse_commits = True
    partitions.commit(stored(("users", 0, 7)))
    partitions.lost(consumer, [TopicPartition("users", 0)])
    assert (consumer.commits, partitions.pending) == ([], {})


def test_an_assignment_is_remembered_for_the_idle_limit():
    consumer = FakeConsumer()
    partitions = partitions_of(consumer)
    partitions.subscribe(["users"])
    _, on_assign, _, _ = consumer.subscribed
    on_assign(consumer, [TopicPartition("users", 0)])
    assert partitions.assigned_at is not None


def test_messages_collected_before_their_partition_was_revoked_are_not_stored():
    consumer = ScriptedConsumer(
        [messages("users", 0, [0, 1]) + messages("users", 1, [0]), messages("users", 1, [1])],
        before={2: lambda: partitions.revoked(consumer, [TopicPartition("users", 0)])},
    )
    partitions = partitions_of(consumer)
    batch = partitions.poller.collect(limit=100)
    assert offsets_of(batch.messages) == [("users", 1, 0), ("users", 1, 1)]
    assert batch.fetched == 4


def test_a_partition_given_back_in_the_same_collect_resumes_at_the_new_committed_offset():
    consumer = ScriptedConsumer(
        [messages("users", 0, [0, 1]), messages("users", 0, [2, 5])],
        committed={USERS_0: 0},
    )

    def revoke_and_give_back():
        partitions.revoked(consumer, [TopicPartition("users", 0)])
        consumer.committed_offsets[USERS_0] = 5  # another member stored 0..4 meanwhile

    consumer.before = {2: revoke_and_give_back}
    partitions = partitions_of(consumer)
    batch = partitions.poller.collect(limit=100)
    assert offsets_of(batch.messages) == [("users", 0, 5)]
