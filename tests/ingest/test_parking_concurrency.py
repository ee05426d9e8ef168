"""Parked coupons under concurrent transactions on PostgreSQL (see ingest/parking.py).

Two transactions, each on a thread and a connection of its own, are put
in a chosen order: the first does its work and stays open, its claims
held; the second starts and runs until it waits for a lock (or ends);
then the first commits. Under READ COMMITTED the second then acts on
what the first left, and the newest version of a coupon must win.

The set-up, as the issue found it: coupon 9 (v1) is parked for event 6;
event 5 and user 1 are stored. `V2` needs only event 5; `V2_WAITING`
needs event 7, not stored.
"""

import threading
from datetime import timedelta
from decimal import Decimal

import pytest
from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from ingest import parking, services
from ingest.models import Coupon, MissingReference, ParkedCoupon, Selection
from tests.kafka_pipeline import wait_until
from tests.records import valid_coupon, valid_event, valid_user

pytestmark = [
    pytest.mark.skipif(
        settings.DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3",
        reason="SQLite serializes writers, so two transactions never overlap; "
        "set DATABASE_URL to a PostgreSQL database to run these",
    ),
    pytest.mark.django_db(transaction=True),
]

TIMEOUT = 30.0
V1 = valid_coupon(9, 1, [(6, 1.5)])
V2 = valid_coupon(9, 1, [(5, 2.0)])
V2_WAITING = valid_coupon(9, 1, [(7, 3.0)])


class Transaction:
    """`work` in one transaction, on a thread (and so a database connection) of its own.

    With `hold`, the transaction stays open after `work`, holding its locks,
    until `finish()`; without, it commits as soon as `work` returns.
    """

    def __init__(self, work, *, hold: bool = False):
        self.work, self.hold = work, hold
        self.pid = None
        self.outcome = self.error = None
        self.connected, self.worked, self.release = (threading.Event() for _ in range(3))
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()
        assert self.connected.wait(TIMEOUT)

    def _run(self):
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_backend_pid()")
                [self.pid] = cursor.fetchone()
            self.connected.set()
            with transaction.atomic():
                self.outcome = self.work()
                self.worked.set()
                if self.hold:
                    self.release.wait(TIMEOUT)
        except Exception as error:  # handed to the test by finish()
            self.error = error
        finally:
            self.connected.set()
            self.worked.set()
            connection.close()

    def holding(self) -> "Transaction":
        """Once `work` is done (and its claims held)."""
        assert self.worked.wait(TIMEOUT)
        assert self.error is None, self.error
        return self

    def waiting_or_done(self) -> "Transaction":
        """Once this transaction waits for a lock another holds, or has ended."""

        def waits_for_a_lock():
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT wait_event_type FROM pg_stat_activity WHERE pid = %s", [self.pid]
                )
                row = cursor.fetchone()
            return row is not None and row[0] == "Lock"

        wait_until(
            lambda: self.worked.is_set() or waits_for_a_lock(), timeout=TIMEOUT, what="a lock wait"
        )
        return self

    def finish(self):
        """Commit (if held), wait for the end, and return what `work` returned."""
        self.release.set()
        self.thread.join(TIMEOUT)
        assert not self.thread.is_alive(), "the transaction did not end"
        if self.error is not None:
            raise self.error
        return self.outcome


@pytest.fixture(autouse=True)
def v1_parked_for_event_6():
    services.store_batch(users=[valid_user(1)], events=[valid_event(5)])
    services.coupons_store(records=[V1], source="coupons/0/1")
    assert ParkedCoupon.objects.filter(pk=9).exists()


def selections_of(coupon_id):
    return set(Selection.objects.filter(coupon_id=coupon_id).values_list("event_id", "odds"))


def parked_payload_events(coupon_id):
    payload = ParkedCoupon.objects.get(pk=coupon_id).payload
    return [s["event_id"] for s in payload["selections"]]


def test_a_newer_version_stored_while_a_release_holds_the_older_one_wins():
    release = Transaction(
        lambda: services.store_batch(events=[valid_event(6)]), hold=True
    ).holding()
    assert release.outcome.released == [9]
    store = Transaction(lambda: services.store_batch(coupons=[V2])).waiting_or_done()

    release.finish()
    store.finish()

    assert selections_of(9) == {(5, Decimal("2.0"))}
    assert not ParkedCoupon.objects.exists()


def test_a_release_that_found_the_older_version_parked_stores_nothing_once_the_newer_is_stored():
    store = Transaction(lambda: services.store_batch(coupons=[V2]), hold=True).holding()
    # It read coupon 9 as waiting for event 6 before the store committed.
    release = Transaction(lambda: services.store_batch(events=[valid_event(6)])).waiting_or_done()

    store.finish()

    assert release.finish().released == []
    assert selections_of(9) == {(5, Decimal("2.0"))}
    assert not ParkedCoupon.objects.exists()
    assert not MissingReference.objects.exists()


def test_a_newer_version_parked_during_a_release_stays_parked_and_the_older_is_not_stored():
    park = Transaction(lambda: services.store_batch(coupons=[V2_WAITING]), hold=True).holding()
    release = Transaction(lambda: services.store_batch(events=[valid_event(6)])).waiting_or_done()

    park.finish()

    assert release.finish().released == []
    assert not Coupon.objects.filter(pk=9).exists()
    assert parked_payload_events(9) == [7]
    assert set(MissingReference.objects.values_list("kind", "ref_id")) == {("event", 7)}
    # and once event 7 arrives, the newest version is stored
    assert services.store_batch(events=[valid_event(7)]).released == [9]
    assert selections_of(9) == {(7, Decimal("3.0"))}


def test_a_newer_version_parked_after_a_release_of_the_older_waits_and_wins_later():
    release = Transaction(
        lambda: services.store_batch(events=[valid_event(6)]), hold=True
    ).holding()
    park = Transaction(lambda: services.store_batch(coupons=[V2_WAITING])).waiting_or_done()

    release.finish()
    park.finish()

    assert selections_of(9) == {(6, Decimal("1.5"))}  # v1, as if they ran one after the other
    assert parked_payload_events(9) == [7]
    assert services.store_batch(events=[valid_event(7)]).released == [9]
    assert selections_of(9) == {(7, Decimal("3.0"))}
    assert not ParkedCoupon.objects.exists()


def test_a_coupon_the_data_api_stored_is_not_overwritten_by_a_release_of_its_parked_version():
    put = Transaction(lambda: services.coupon_put(record=V2), hold=True).holding()
    release = Transaction(lambda: services.store_batch(events=[valid_event(6)])).waiting_or_done()

    put.finish()

    assert release.finish().released == []
    assert selections_of(9) == {(5, Decimal("2.0"))}
    assert not ParkedCoupon.objects.exists()


def expire():
    return [parked.coupon_id for parked in parking.expire(max_age=timedelta(hours=1))]


@pytest.fixture
def v1_waited_too_long(v1_parked_for_event_6):
    ParkedCoupon.objects.filter(pk=9).update(parked_at=timezone.now() - timedelta(hours=2))


@pytest.mark.usefixtures("v1_waited_too_long")
def test_a_coupon_being_expired_is_not_released():
    expiry = Transaction(expire, hold=True).holding()
    assert expiry.outcome == [9]
    release = Transaction(lambda: services.store_batch(events=[valid_event(6)])).waiting_or_done()

    expiry.finish()

    assert release.finish().released == []
    assert not Coupon.objects.filter(pk=9).exists()
    assert not ParkedCoupon.objects.exists()


@pytest.mark.usefixtures("v1_waited_too_long")
def test_a_coupon_being_released_is_not_expired_and_expiry_does_not_wait_for_it():
    release = Transaction(
        lambda: services.store_batch(events=[valid_event(6)]), hold=True
    ).holding()

    # Finishes while the release still holds its claim: skipped, not waited for.
    assert Transaction(expire).finish() == []

    release.finish()
    assert selections_of(9) == {(6, Decimal("1.5"))}
    assert not ParkedCoupon.objects.exists()


@pytest.mark.usefixtures("v1_waited_too_long")
def test_a_coupon_being_replaced_is_not_expired():
    park = Transaction(lambda: services.store_batch(coupons=[V2_WAITING]), hold=True).holding()

    assert Transaction(expire).finish() == []

    park.finish()
    assert parked_payload_events(9) == [7]
    assert expire() == []  # its wait restarted with the newer version


@pytest.mark.usefixtures("v1_waited_too_long")
def test_two_expiries_at_once_take_a_coupon_once():
    first = Transaction(expire, hold=True).holding()

    assert Transaction(expire).finish() == []

    assert first.finish() == [9]
    assert not ParkedCoupon.objects.exists()
