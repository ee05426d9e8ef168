"""`betreco.sql`: writes refused inside `read_only`; `upsert_rows` stores what the ORM would."""

from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest
from django.db import DatabaseError

from betreco.sql import read_only, upsert_rows
from ingest.models import Coupon, Selection, User
from tests.factories import EventFactory, UserFactory


@pytest.mark.django_db(transaction=True)
def test_writes_are_refused_inside_read_only_and_allowed_again_after():
    with read_only(), pytest.raises(DatabaseError):
        UserFactory()
    UserFactory()
    assert User.objects.count() == 1


@pytest.mark.django_db
def test_upsert_rows_stores_what_the_orm_reads_back_and_updates_on_the_key():
    user, first, second = UserFactory(), EventFactory(), EventFactory()
    placed = datetime(2030, 4, 1, 12, 30, 15, 123456, tzinfo=timezone(timedelta(hours=2)))
    upsert_rows(
        Coupon, ["id", "user", "stake", "timestamp"], [(5, user.pk, Decimal("9.5"), placed)]
    )
    pairs = [(5, first.pk, Decimal("1.5")), (5, second.pk, Decimal("2.25"))]
    upsert_rows(Selection, ["coupon", "event", "odds"], pairs, conflict=["coupon", "event"])
    upsert_rows(
        Selection, ["coupon", "event", "odds"], [(5, first.pk, 3)], conflict=["coupon", "event"]
    )

    coupon = Coupon.objects.get(pk=5)
    assert (coupon.stake, coupon.timestamp) == (Decimal("9.50"), placed)
    assert Coupon.objects.filter(timestamp__lt=placed + timedelta(microseconds=1)).count() == 1
    assert list(coupon.selections.values_list("event_id", "odds")) == [
        (first.pk, Decimal("3.0000")),
        (second.pk, Decimal("2.2500")),
    ]
