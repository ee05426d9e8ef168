"""Reads: the queries behind the data API, each one set-based."""

from django.db.models import QuerySet
from django.shortcuts import get_object_or_404

from ingest.models import Coupon, Event, User


def user_get(*, user_id: int) -> User:
    return get_object_or_404(User, pk=user_id)


def user_list(*, filters: dict | None = None) -> QuerySet[User]:
    filters = filters or {}
    users = User.objects.all()
    for name in ("country", "currency", "gender"):
        if filters.get(name):
            users = users.filter(**{name: filters[name].upper()})
    return users


def event_get(*, event_id: int) -> Event:
    return get_object_or_404(Event.objects.select_related("participants"), pk=event_id)


def event_list(*, filters: dict | None = None) -> QuerySet[Event]:
    filters = filters or {}
    events = Event.objects.select_related("participants")
    if filters.get("sport"):
        events = events.filter(sport_key=filters["sport"].strip().lower())
    if filters.get("league"):
        events = events.filter(league__iexact=filters["league"].strip())
    if filters.get("country"):
        events = events.filter(country=filters["country"].strip().upper())
    return events


def coupon_get(*, coupon_id: int) -> Coupon:
    return get_object_or_404(_coupons(), pk=coupon_id)


def coupon_list(*, filters: dict | None = None) -> QuerySet[Coupon]:
    filters = filters or {}
    coupons = _coupons()
    if filters.get("user_id") is not None:
        coupons = coupons.filter(user_id=filters["user_id"])
    return coupons


def _coupons() -> QuerySet[Coupon]:
    return Coupon.objects.prefetch_related("selections")
