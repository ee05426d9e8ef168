"""Selections changed by hand: each a change of the coupons it touches, announced as such.

What is announced follows the coupons' one rule (`coupons_write`): the
owners of the coupons touched, and every event such a coupon held before
or holds now.
"""

from decimal import Decimal

import pytest

from ingest import services
from ingest.models import ParkedCoupon, Selection
from tests.records import valid_coupon, valid_event, valid_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def two_coupons(db):
    """Coupon 9 of user 1 on event 5, coupon 10 of user 2 on event 6; event 7 unbet."""
    services.store_batch(
        users=[valid_user(1), valid_user(2)],
        events=[valid_event(5), valid_event(6), valid_event(7)],
        coupons=[valid_coupon(9, 1, [(5, 1.5)]), valid_coupon(10, 2, [(6, 2.0)])],
    )


def selection_id(coupon_id, event_id):
    return Selection.objects.get(coupon_id=coupon_id, event_id=event_id).pk


def test_a_selection_added_by_hand_announces_the_owner_and_the_event(
    two_coupons, announced, selections_of
):
    added = services.selection_put(selection_id=None, coupon_id=9, event_id=7, odds=Decimal(3))

    assert added == selection_id(9, 7)
    assert selections_of(9) == {(5, Decimal("1.5")), (7, Decimal("3"))}
    assert announced == [("bets_changed", [1], [5, 7])]


def test_new_odds_keep_the_selection_and_announce_its_event(two_coupons, announced, selections_of):
    before = selection_id(9, 5)

    kept = services.selection_put(selection_id=before, coupon_id=9, event_id=5, odds=Decimal(4))

    assert kept == before
    assert selections_of(9) == {(5, Decimal("4"))}
    assert announced == [("bets_changed", [1], [5])]


def test_a_selection_moved_to_another_coupon_and_event_announces_where_it_was_too(
    two_coupons, announced, selections_of
):
    moved = selection_id(9, 5)

    services.selection_put(selection_id=moved, coupon_id=10, event_id=7, odds=Decimal(2))

    assert selections_of(9) == set()
    assert selections_of(10) == {(6, Decimal("2")), (7, Decimal("2"))}
    bettors = {user for _, users, _ in announced for user in users}
    events = {event for _, _, events in announced for event in events}
    assert (bettors, events) == ({1, 2}, {5, 6, 7})


def test_deleted_selections_leave_their_coupons_and_are_announced(
    two_coupons, announced, selections_of
):
    services.selections_delete(selection_ids=[selection_id(9, 5), selection_id(10, 6)])

    assert selections_of(9) == selections_of(10) == set()
    assert announced == [("bets_changed", [1, 2], [5, 6])]


def test_a_newer_version_parked_meanwhile_stays_parked_and_is_stored_when_ready(
    two_coupons, selections_of
):
    services.coupons_store(records=[valid_coupon(9, 1, [(8, 2.0)])])  # waits for event 8

    services.selections_delete(selection_ids=[selection_id(9, 5)])

    assert ParkedCoupon.objects.filter(pk=9).exists()
    services.store_batch(events=[valid_event(8)])
    assert selections_of(9) == {(8, Decimal("2"))}
