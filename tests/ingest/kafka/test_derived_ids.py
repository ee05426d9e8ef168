"""Ids derived for id-less records on a topic (docs/records.md): the same on a replay, never twice.

A derived id is a range's number (one per topic incarnation, partition and
offset >> 32, in `DerivedIdRange`) above the offset's low 32 bits. These
tests run the scheme against the real database; the topic ids come from a
table of the test's (the broker's part is in tests/e2e/test_derived_ids.py).
"""

import logging

import pytest

from ingest.ids import (
    FIRST_DERIVED_ID,
    MAX_ASSIGNED_ID,
    DerivedIdsExhausted,
    RangeKey,
    range_numbers,
)
from ingest.kafka.derived_ids import DerivedIds, TopicIds, _text
from ingest.models import DerivedIdRange, ParkedCoupon, User
from tests.processes import finish, start_together

pytestmark = pytest.mark.django_db(transaction=True)


def resolver(**topic_ids: str) -> DerivedIds:
    """A resolver with a cache of its own (as a process has) and these topic ids."""
    ids = {"users": "incarnation-1", "t1.users": "incarnation-9", **topic_ids}
    return DerivedIds(topic_ids=lambda topics: {topic: ids[topic] for topic in topics})


def old_scheme_id(partition: int, offset: int) -> int:
    """How ids were derived before ranges had numbers."""
    return FIRST_DERIVED_ID + (partition << 40 | offset)


def test_one_place_gets_the_same_id_every_time_and_in_every_process():
    places = [("users", partition, offset) for partition in range(3) for offset in range(50)]
    first = resolver().ids_for(places)
    again = resolver().ids_for(places)  # another process: nothing cached
    first_again = resolver().ids_for(reversed(places))

    assert first == again == first_again
    assert len(set(first.values())) == len(places)
    assert DerivedIdRange.objects.count() == 3  # one range a partition, created once


def test_a_recreated_topic_or_a_restarted_broker_gets_new_ids_at_the_same_offsets():
    places = [("users", 0, offset) for offset in range(10)]
    before = resolver(users="incarnation-1").ids_for(places)
    after = resolver(users="incarnation-2").ids_for(places)

    assert not set(before.values()) & set(after.values())
    assert resolver(users="incarnation-1").ids_for(places) == before


def test_different_topics_at_the_same_place_get_different_ids():
    plain = resolver().ids_for([("users", 0, 0), ("users", 1, 7)])
    prefixed = resolver().ids_for([("t1.users", 0, 0), ("t1.users", 1, 7)])

    assert not set(plain.values()) & set(prefixed.values())


def test_a_broker_without_topic_ids_still_separates_topics_and_partitions():
    ids = resolver(users="", **{"t1.users": ""}).ids_for(
        [("users", 0, 0), ("users", 1, 0), ("t1.users", 0, 0)]
    )

    assert len(set(ids.values())) == 3


def test_derived_ids_stay_within_javascript_range_for_any_offset():
    offsets = [0, 1, 2**31, 2**32 - 1, 2**32, 2**32 + 1, 2**40, 2**62]
    ids = resolver().ids_for([("users", 5, offset) for offset in offsets])

    assert len(set(ids.values())) == len(offsets)
    assert all(FIRST_DERIVED_ID <= value <= MAX_ASSIGNED_ID for value in ids.values())
    assert DerivedIdRange.objects.count() == 4  # offset >> 32: 0, 1, 2**8 and 2**30


def test_ids_derived_before_the_ranges_are_never_met():
    """Rows stored with 2**52 + partition << 40 | offset stay theirs after the upgrade."""
    old = [old_scheme_id(partition, offset) for partition in range(3) for offset in range(20)]
    User.objects.bulk_create([User(id=pk, birth_year=1985, country="GR") for pk in old])
    parked = old_scheme_id(7, 3)  # a coupon of an old partition 7, still waiting
    ParkedCoupon.objects.create(coupon_id=parked, payload={})

    places = [(topic, p, o) for topic in ("users", "t1.users") for p in range(8) for o in range(20)]
    new = resolver().ids_for(places)

    assert not set(new.values()) & {*old, parked}
    # Every new range is above the highest old one: partition 7's, number 7 << 8.
    assert DerivedIdRange.objects.order_by("number").first().number == (7 << 8) + 1


def test_a_source_id_above_2_53_does_not_use_up_the_ranges():
    User.objects.create(id=2**62, birth_year=1985, country="GR")

    ids = resolver().ids_for([("users", 0, 0)])

    assert ids[("users", 0, 0)] == FIRST_DERIVED_ID  # the first range, number 0


def test_the_last_range_is_used_and_then_deriving_refuses_with_a_clear_error():
    key = RangeKey("other", "x", 0, 0)
    DerivedIdRange.objects.create(number=2**20 - 2, **key._asdict())

    last = resolver().ids_for([("users", 0, 2**32 - 1)])
    assert last[("users", 0, 2**32 - 1)] == MAX_ASSIGNED_ID
    with pytest.raises(DerivedIdsExhausted, match="all 1048576 derived-id ranges are allocated"):
        resolver().ids_for([("users", 1, 0)])
    # Places with a range still derive their ids.
    assert resolver().ids_for([("users", 0, 5)])[("users", 0, 5)] == MAX_ASSIGNED_ID - 2**32 + 6


ALLOCATOR = """
import sys
import django
django.setup()
from ingest.ids import RangeKey, range_numbers
from tests.processes import wait_for_go

own = sys.argv[3]
keys = [RangeKey(topic, "id", partition, 0) for topic in ("shared", own) for partition in range(20)]
wait_for_go(*sys.argv[1:3])
numbers = {}
for key in keys:  # one allocation per key: the most races
    numbers |= range_numbers([key])
print(" ".join(f"{key.topic}:{key.partition}:{number}" for key, number in numbers.items()))
"""


def test_processes_allocating_at_once_agree_on_shared_ranges_and_never_share_a_number(tmp_path):
    processes = start_together(ALLOCATOR, [[f"own{index}"] for index in range(4)], tmp_path)
    seen: dict[str, set[int]] = {}
    for code, stdout, stderr in finish(processes):
        assert code == 0, stderr
        for item in stdout.split():
            topic, partition, number = item.split(":")
            seen.setdefault(f"{topic}:{partition}", set()).add(int(number))

    assert len(seen) == 20 + 4 * 20
    assert all(len(numbers) == 1 for numbers in seen.values())  # every process read the same
    numbers = [number for (number,) in seen.values()]
    assert len(set(numbers)) == len(numbers)
    assert sorted(DerivedIdRange.objects.values_list("number", flat=True)) == sorted(numbers)


def test_range_numbers_of_known_keys_need_no_new_rows():
    keys = [RangeKey("users", "id", partition, 0) for partition in range(3)]
    first = range_numbers(keys)

    assert range_numbers(keys) == first
    assert DerivedIdRange.objects.count() == 3


def test_a_broker_reporting_no_topic_id_is_said_once_per_topic(caplog):
    class WithoutIds(TopicIds):
        def _describe(self, topics):
            return dict.fromkeys(topics, "")

    topics = WithoutIds()
    with caplog.at_level(logging.WARNING, logger="ingest.kafka.derived_ids"):
        assert topics.get(["users"]) == {"users": ""}
        topics.forget(["users"])
        topics.get(["users", "events"])

    warnings = [record.getMessage() for record in caplog.records]
    assert len(warnings) == 2
    assert "no topic id for users" in warnings[0]


def test_an_all_zero_topic_id_means_none():
    from confluent_kafka import Uuid

    assert _text(Uuid(0, 0)) == _text(None) == ""
    assert _text(Uuid(1, 2)) != ""
