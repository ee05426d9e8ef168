"""Storing and deleting users."""

from collections.abc import Iterable

from django.db import transaction

from ingest.models import Coupon, User
from ingest.services.coupons import coupons_delete
from ingest.services.upserts import last_per_id, upsert

USER_FIELDS = ["birth_year", "country", "currency", "gender", "registration_date"]


@transaction.atomic
def users_upsert(*, records: Iterable[dict]) -> list[int]:
    """Store users; returns the ids that were new or changed.

    Users on their own announce nothing: no answer depends on a user's fields.
    """
    rows = [User(**record) for record in last_per_id(records)]
    return upsert(User, rows, USER_FIELDS)


@transaction.atomic
def users_delete(*, user_ids: Iterable[int]) -> None:
    """Delete users with their coupons (`coupons_delete` announces whose bets that changes)."""
    user_ids = list(user_ids)
    coupons_delete(
        coupon_ids=Coupon.objects.filter(user_id__in=user_ids).values_list("pk", flat=True)
    )
    User.objects.filter(pk__in=user_ids).delete()
