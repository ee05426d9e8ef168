"""Gap-free admission of fetched messages (ingest/kafka/offsets.py), with a fake consumer."""

import logging

from betreco import metrics
from ingest.kafka.offsets import MIN_REFETCHES, Offsets
from tests.ingest.kafka.fakes import Clock, FakeConsumer, messages, offsets_of


def gaps_counted(topic):
    return metrics.OFFSET_GAPS.labels(topic)._value.get()


def test_a_partition_starts_at_its_committed_offset_and_admits_in_order():
    offsets = Offsets(FakeConsumer(committed={("users", 0): 5}), gap_wait=5)
    admitted = offsets.admit(messages("users", 0, [5, 6, 7]))
    assert offsets_of(admitted) == [("users", 0, 5), ("users", 0, 6), ("users", 0, 7)]
    assert offsets.expected[("users", 0)] == 8


def test_a_group_without_a_commit_starts_at_the_log_start():
    consumer = FakeConsumer(log_start=3)
    offsets = Offsets(consumer, gap_wait=5)
    assert offsets_of(offsets.admit(messages("users", 0, [3, 4]))) == [
        ("users", 0, 3),
        ("users", 0, 4),
    ]


def test_messages_already_admitted_are_not_admitted_again():
    offsets = Offsets(FakeConsumer(), gap_wait=5)
    offsets.admit(messages("users", 0, [0, 1, 2]))
    assert offsets_of(offsets.admit(messages("users", 0, [1, 2, 3]))) == [("users", 0, 3)]


def test_a_skipped_offset_stops_that_partition_and_seeks_back_to_it():
    consumer = FakeConsumer()
    offsets = Offsets(consumer, gap_wait=5)
    before = gaps_counted("gapped")
    fetched = messages("gapped", 0, [0, 1, 12, 13]) + messages("gapped", 1, [0, 1])
    admitted = offsets.admit(fetched)
    assert offsets_of(admitted) == [
        ("gapped", 0, 0),
        ("gapped", 0, 1),
        ("gapped", 1, 0),
        ("gapped", 1, 1),
    ]
    assert consumer.seeks == [("gapped", 0, 2)]
    assert gaps_counted("gapped") == before + 1
    # The broker has written the missing batch by the next fetch: all of it comes, in order.
    assert offsets_of(offsets.admit(messages("gapped", 0, range(2, 14)))) == [
        ("gapped", 0, offset) for offset in range(2, 14)
    ]


def test_a_gap_seen_again_is_counted_once_and_waited_for(caplog):
    consumer = FakeConsumer()
    clock = Clock()
    offsets = Offsets(consumer, gap_wait=5, clock=clock)
    before = gaps_counted("waiting")
    for _ in range(MIN_REFETCHES + 1):
        clock.now += 1
        offsets.admit(messages("waiting", 0, [0, 5]))
    assert offsets.expected[("waiting", 0)] == 1  # still waiting for offset 1
    assert gaps_counted("waiting") == before + 1
    assert consumer.seeks == [("waiting", 0, 1)] * (MIN_REFETCHES + 1)
    assert "accepting the gap" not in caplog.text


def test_a_gap_still_there_after_the_wait_is_accepted_with_an_error(caplog):
    consumer = FakeConsumer()
    clock = Clock()
    offsets = Offsets(consumer, gap_wait=5, clock=clock)
    offsets.admit(messages("compacted", 0, [0]))
    with caplog.at_level(logging.WARNING, logger="ingest.kafka.offsets"):
        for _ in range(MIN_REFETCHES):
            assert offsets.admit(messages("compacted", 0, [4, 5])) == []
        clock.now += 5
        admitted = offsets.admit(messages("compacted", 0, [4, 5]))
    assert offsets_of(admitted) == [("compacted", 0, 4), ("compacted", 0, 5)]
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1
    assert "compacted[0] offsets 1..3" in errors[0].getMessage()


def test_a_partition_that_comes_back_starts_again_at_the_committed_offset():
    consumer = FakeConsumer(committed={("users", 0): 0})
    offsets = Offsets(consumer, gap_wait=5)
    offsets.admit(messages("users", 0, [0, 1, 2]))
    offsets.forget({("users", 0)})
    # Another member stored and committed up to 10 meanwhile: what we had fetched is older.
    consumer.committed_offsets[("users", 0)] = 10
    assert offsets.admit(messages("users", 0, [3, 4])) == []
    assert offsets_of(offsets.admit(messages("users", 0, [10]))) == [("users", 0, 10)]


def test_when_the_start_cannot_be_read_nothing_is_admitted_and_it_is_fetched_again():
    consumer = FakeConsumer(broken=True)
    offsets = Offsets(consumer, gap_wait=5)
    assert offsets.admit(messages("users", 0, [7, 8])) == []
    assert consumer.seeks == [("users", 0, 7)]
    consumer.broken = False
    assert len(offsets.admit(messages("users", 0, [0, 1]))) == 2


def test_nothing_fetched_admits_nothing_and_asks_nothing():
    consumer = FakeConsumer(broken=True)
    assert Offsets(consumer, gap_wait=5).admit([]) == []
    assert consumer.seeks == []
