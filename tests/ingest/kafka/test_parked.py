"""Parked-coupon upkeep (ingest/kafka/parked.py): release what is ready, expire what waited."""

import logging
from datetime import timedelta

import pytest
from confluent_kafka import KafkaException
from django.utils import timezone

from ingest import services
from ingest.kafka.holding import Holding
from ingest.kafka.parked import ParkedUpkeep, Upkeep, parked_upkeep
from ingest.kafka.topics import Header
from ingest.models import Coupon, DeadLetter, ParkedCoupon
from tests.factories import EventFactory, UserFactory
from tests.ingest.kafka.fakes import FakeProducer, PollingConsumer
from tests.records import valid_coupon

TIMEOUT = 60


@pytest.fixture(autouse=True)
def _timeout(settings):
    settings.PARKED_TIMEOUT_SECONDS = TIMEOUT


def park(coupon_id=9, *, user_id=1, event_id=5, waited=0):
    """Park a coupon whose user and event have not arrived, as if `waited` seconds ago."""
    services.coupons_store(
        records=[valid_coupon(coupon_id, user_id, [event_id])], source=f"coupons/0/{coupon_id}"
    )
    ParkedCoupon.objects.filter(pk=coupon_id).update(
        parked_at=timezone.now() - timedelta(seconds=waited)
    )


@pytest.mark.django_db
def test_a_coupon_parked_longer_than_the_timeout_is_dead_lettered_and_published():
    park(waited=TIMEOUT + 1)
    producer = FakeProducer()

    assert parked_upkeep(producer) == Upkeep(released=0, dead_lettered=1)

    assert not ParkedCoupon.objects.exists()
    [message] = producer.published
    headers = {name: value.decode() for name, value in message["headers"]}
    assert message["topic"] == "coupons.dlq"
    assert headers[Header.ERROR_KIND] == "unresolved"
    assert "user 1" in headers[Header.ERROR]  # what it still lacks, in no set order
    assert "event 5" in headers[Header.ERROR]
    assert (headers[Header.ORIGINAL_TOPIC], headers[Header.ORIGINAL_OFFSET]) == ("coupons", "9")
    [row] = DeadLetter.objects.all()
    assert row.published_at is not None


@pytest.mark.django_db
def test_a_coupon_parked_for_less_than_the_timeout_keeps_waiting():
    park(waited=TIMEOUT - 10)
    producer = FakeProducer()

    assert parked_upkeep(producer) == Upkeep(released=0, dead_lettered=0)

    assert ParkedCoupon.objects.filter(pk=9).exists()
    assert producer.published == []


@pytest.mark.django_db
def test_a_parked_coupon_whose_user_and_event_arrived_meanwhile_is_stored():
    park()
    UserFactory(id=1)  # committed by another consumer, say
    EventFactory(id=5)

    assert parked_upkeep(FakeProducer()) == Upkeep(released=1, dead_lettered=0)

    assert Coupon.objects.filter(pk=9, user_id=1).exists()
    assert not ParkedCoupon.objects.exists()


@pytest.mark.django_db
def test_dead_letters_the_broker_did_not_take_are_published_by_the_next_upkeep():
    park(waited=TIMEOUT + 1)
    with pytest.raises(KafkaException):
        parked_upkeep(FakeProducer(down=True))
    assert not ParkedCoupon.objects.exists()  # expired once, and not forgotten:
    assert DeadLetter.objects.get().published_at is None

    producer = FakeProducer()
    assert parked_upkeep(producer) == Upkeep(released=0, dead_lettered=0)

    assert [message["topic"] for message in producer.published] == ["coupons.dlq"]
    assert DeadLetter.objects.get().published_at is not None


def upkeep_with(producer) -> tuple[ParkedUpkeep, Holding]:
    holding = Holding(PollingConsumer(), should_stop=lambda: False)
    return ParkedUpkeep(producer, holding), holding


def test_the_upkeep_is_due_at_once_then_every_half_timeout_at_most_five_seconds(settings):
    settings.PARKED_TIMEOUT_SECONDS = 4
    upkeep, _ = upkeep_with(FakeProducer())
    assert upkeep.due()
    assert not upkeep.due()
    upkeep.next_run -= 2  # two seconds later
    assert upkeep.due()


@pytest.mark.django_db(transaction=True)  # it runs in the loop's worker thread
def test_the_loops_upkeep_runs_beside_the_poll_loop_and_says_how_many_it_dead_lettered():
    park(waited=TIMEOUT + 1)
    producer = FakeProducer()
    upkeep, holding = upkeep_with(producer)
    assert upkeep.run() == 1
    holding.close()
    assert [message["topic"] for message in producer.published] == ["coupons.dlq"]


@pytest.mark.django_db(transaction=True)
def test_an_upkeep_the_broker_fails_is_logged_and_tried_again_next_time(caplog):
    park(waited=TIMEOUT + 1)
    upkeep, holding = upkeep_with(FakeProducer(down=True))
    with caplog.at_level(logging.WARNING):
        assert upkeep.run() == 0
    assert "expired parked coupons not dead-lettered yet" in caplog.text
    upkeep.producer = FakeProducer()
    assert upkeep.run() == 0  # expired last time: published now, counted then
    holding.close()
    assert [message["topic"] for message in upkeep.producer.published] == ["coupons.dlq"]
