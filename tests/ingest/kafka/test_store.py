"""Store (ingest/kafka/store.py): one transaction per batch, held and retried through outages."""

import logging

import pytest
from django.db import IntegrityError, OperationalError

from ingest.kafka import store as store_module
from ingest.kafka.batch import Batch, prepare
from ingest.kafka.derived_ids import DerivedIds
from ingest.kafka.holding import Holding
from ingest.kafka.store import Store, write
from ingest.kafka.topics import ErrorKind
from ingest.models import Coupon, DeadLetter, ParkedCoupon, User
from tests.ingest.kafka.fakes import PollingConsumer, record_message
from tests.records import coupon, event, user

# The worker thread that stores has a connection of its own: it sees committed rows only.
pytestmark = pytest.mark.django_db(transaction=True)


def derived_ids() -> DerivedIds:
    return DerivedIds(topic_ids=lambda topics: {topic: "incarnation-1" for topic in topics})


def users_batch(*placed_ids) -> Batch:
    """A user record per (partition, offset, id)."""
    return Batch([record_message("users", p, o, user(i)) for p, o, i in placed_ids])


class Failing:
    """`write` failing `times` times with `error`, then writing."""

    def __init__(self, error, times=1):
        self.error, self.times, self.calls = error, times, 0

    def __call__(self, batch):
        self.calls += 1
        if self.calls <= self.times:
            raise self.error
        return write(batch)


def store_with(consumer, stopping=()) -> tuple[Store, Holding]:
    holding = Holding(consumer, should_stop=lambda: bool(stopping))
    return Store(holding, derived_ids(), should_stop=holding.should_stop), holding


def test_writing_a_batch_stores_its_coupon_with_the_user_and_event_that_came_after_it():
    batch = prepare(
        Batch(
            [
                record_message("coupons", 0, 0, coupon(9, 1, [10])),
                record_message("users", 0, 0, user(1)),
                record_message("events", 0, 0, event(10)),
            ]
        ),
        derived_ids(),
    )
    result = write(batch)
    assert result.coupons == [9]
    assert Coupon.objects.filter(pk=9, user_id=1).exists()
    assert not ParkedCoupon.objects.exists()


def test_writing_a_batch_writes_a_dead_letter_row_per_failure_and_a_replay_writes_none():
    messages = [record_message("users", 0, 0, user(1)), record_message("users", 0, 1, b"nope")]
    write(prepare(Batch(messages), derived_ids()))
    write(prepare(Batch(messages), derived_ids()))  # the same batch again, as after a crash
    assert list(User.objects.values_list("pk", flat=True)) == [1]
    [row] = DeadLetter.objects.all()
    assert (row.topic, row.partition, row.offset) == ("users", 0, 1)
    assert row.reason.startswith("invalid-json: ")


def test_a_batch_is_stored_prepared_without_pausing_anything():
    consumer = PollingConsumer()
    steps, holding = store_with(consumer)
    batch = Batch(
        [record_message("users", 0, 0, user(1)), record_message("users", 0, 1, b"nope")],
        fetched=2,
    )
    stored = steps.store(batch)
    holding.close()
    assert [record["id"] for record in stored.records["users"]] == [1]
    assert [failure.offset for failure in stored.failures] == [1]
    assert (stored.fetched, consumer.paused) == (2, 0)
    assert holding.held == set()  # stored: a rebalance now interrupts nothing


def test_an_outage_holds_the_batch_with_its_partitions_paused_until_it_is_stored(
    monkeypatch, caplog
):
    monkeypatch.setattr(store_module, "write", Failing(OperationalError("database is locked")))
    consumer = PollingConsumer()
    steps, holding = store_with(consumer)
    with caplog.at_level(logging.INFO):
        stored = steps.store(users_batch((0, 0, 1), (0, 1, 2)))
    holding.resume(f"stored the held {stored.size} records")  # the dead letters' step does it
    holding.close()
    assert stored.size == 2
    assert User.objects.count() == 2
    assert (consumer.paused, consumer.resumed) == (1, 1)
    assert "database unavailable: database is locked; holding 2 records" in caplog.text
    assert "storing a batch of 2 succeeded after 2 attempts" in caplog.text


def test_the_records_of_a_partition_revoked_during_the_wait_are_left_to_its_new_owner(
    monkeypatch,
):
    monkeypatch.setattr(store_module, "write", Failing(OperationalError("database is locked")))
    consumer = PollingConsumer(assigned=[("users", 0), ("users", 1)])
    steps, holding = store_with(consumer)
    consumer.on_poll = lambda: holding.left({("users", 0)})
    stored = steps.store(users_batch((0, 0, 1), (1, 0, 2)))
    holding.close()
    assert [m.partition() for m in stored.messages] == [1]
    assert list(User.objects.values_list("pk", flat=True)) == [2]


def test_nothing_is_stored_when_every_partition_of_the_batch_was_revoked(monkeypatch):
    monkeypatch.setattr(store_module, "write", Failing(OperationalError("database is locked")))
    consumer = PollingConsumer()
    steps, holding = store_with(consumer)
    consumer.on_poll = lambda: holding.left({("users", 0)})
    assert steps.store(users_batch((0, 0, 1))) is None
    holding.close()
    assert not User.objects.exists()
    assert (consumer.paused, consumer.resumed) == (1, 1)


def test_a_batch_the_database_refuses_is_stored_one_by_one_refused_ones_as_dead_letters(
    monkeypatch,
):
    real_write = write

    def refuse_user_2(batch):
        if any(r["id"] == 2 for r in batch.records["users"]):
            raise IntegrityError("user 2 breaks a constraint")
        return real_write(batch)

    monkeypatch.setattr(store_module, "write", refuse_user_2)
    steps, holding = store_with(PollingConsumer())
    stored = steps.store(users_batch((0, 0, 1), (0, 1, 2), (0, 2, 3)))
    holding.close()
    assert sorted(User.objects.values_list("pk", flat=True)) == [1, 3]
    [failure] = stored.failures
    assert (failure.offset, failure.error_kind) == (1, ErrorKind.REFUSED_BY_DATABASE)
    assert DeadLetter.objects.get().offset == 1
