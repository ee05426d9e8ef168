"""Storing users: idempotent upserts, announcing nothing; deleting them with their bets."""

import pytest

from ingest import services
from ingest.models import Coupon, User
from tests.records import valid_coupon, valid_event, valid_user

pytestmark = pytest.mark.django_db


def test_storing_the_same_user_twice_changes_nothing(announced):
    assert services.users_upsert(records=[valid_user(1)]) == [1]
    assert services.users_upsert(records=[valid_user(1)]) == []
    assert announced == []  # nobody depends on users alone
    assert User.objects.count() == 1


def test_a_changed_user_is_updated(announced):
    services.users_upsert(records=[valid_user(1), valid_user(2)])
    assert services.users_upsert(records=[valid_user(1, currency="USD"), valid_user(2)]) == [1]
    assert User.objects.get(pk=1).currency == "USD"
    assert announced == []


def test_last_record_of_an_id_in_a_batch_wins():
    services.users_upsert(records=[valid_user(1, country="DE"), valid_user(1, country="FR")])
    assert User.objects.get(pk=1).country == "FR"


def test_a_deleted_user_takes_their_coupons_along_and_announces_their_bets(announced):
    services.store_batch(
        users=[valid_user(1), valid_user(2)],
        events=[valid_event(5), valid_event(6)],
        coupons=[valid_coupon(9, 1, [(5, 1.5)]), valid_coupon(10, 1, [(6, 2.0)])],
    )
    announced.clear()

    services.users_delete(user_ids=[1])

    assert list(User.objects.values_list("pk", flat=True)) == [2]
    assert not Coupon.objects.exists()
    assert announced == [("bets_changed", [1], [5, 6])]
