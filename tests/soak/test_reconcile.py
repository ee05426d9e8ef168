"""Acknowledged records reconciled by where their 202 put them (soak/reconcile.py): what the
soak and the pipeline bench print when records are missing."""

import pytest
from confluent_kafka import Consumer, TopicPartition

from soak.reconcile import Receipt, offset_ranges, reconcile


def test_missing_offsets_merge_into_ranges_per_partition():
    receipts = [
        Receipt("users", 7, "users", 0, 7),
        Receipt("users", 5, "users", 0, 5),
        Receipt("users", 6, "users", 0, 6),
        Receipt("users", 9, "users", 0, 9),
        Receipt("users", 1, "users", 1, 5),
    ]

    ranges = offset_ranges(receipts)

    assert [(r.partition, r.first, r.last, len(r.keys)) for r in ranges] == [
        (0, 5, 7, 3),
        (0, 9, 9, 1),
        (1, 5, 5, 1),
    ]


def test_nothing_missing_reads_nothing_back():
    receipts = [Receipt("users", 1, "users", 0, 0), Receipt("users", 1, "users", 0, 1)]

    found = reconcile(receipts, lambda kind, ids: set(ids), "127.0.0.1:1")

    assert found.ok
    assert (found.records, found.receipts) == (1, 2)
    assert found.lines() == ["all 1 acknowledged records stored"]


@pytest.mark.kafka
def test_records_not_stored_are_named_by_offset_and_read_back_from_the_broker(pipeline):
    deliveries = pipeline.produce("users", [{"id": n, "birth_year": 1990} for n in range(1, 13)])
    receipts = [Receipt("users", int(d.key), d.topic, d.partition, d.offset) for d in deliveries]
    lost = {4, 5, 6, 11}

    found = reconcile(
        receipts,
        lambda kind, ids: {i for i in ids if i not in lost},
        pipeline.bootstrap,
        group=pipeline.group,
    )

    assert not found.ok
    assert found.missing_records == 4
    assert sorted(r.record_id for r in found.missing) == sorted(lost)
    assert sum(r.held for r in found.ranges) == 4  # the broker still has every one
    assert found.passed == 0  # the group has committed nothing: they may still come
    assert found.lines()[0].startswith("4 of 12 acknowledged records NOT STORED")
    for receipt in found.missing:
        assert any(
            f"{receipt.topic}[{receipt.partition}] offset" in line for line in found.lines()[1:]
        )


@pytest.mark.kafka
def test_records_the_group_committed_past_are_reported_as_never_coming(pipeline):
    deliveries = pipeline.produce("users", [{"id": n, "birth_year": 1990} for n in range(1, 7)])
    receipts = [Receipt("users", int(d.key), d.topic, d.partition, d.offset) for d in deliveries]
    committer = Consumer({"bootstrap.servers": pipeline.bootstrap, "group.id": pipeline.group})
    try:
        ends = {(d.topic, d.partition): d.offset + 1 for d in deliveries}
        committer.commit(
            offsets=[TopicPartition(t, p, end) for (t, p), end in ends.items()],
            asynchronous=False,
        )
    finally:
        committer.close()

    found = reconcile(
        receipts,
        lambda kind, ids: {i for i in ids if i != 3},
        pipeline.bootstrap,
        group=pipeline.group,
    )

    assert found.passed == 1
    assert "passed them, they will never be stored" in found.lines()[1]
