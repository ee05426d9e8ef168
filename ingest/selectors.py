"""Reads: the queries behind the data API, each one set-based.

The list selectors take their filters as a mapping (a request's query
parameters, or a dict from code) and run them through the list's FilterSet
(`ingest.filters`): a bad value raises a ValidationError naming it (a 400
in the API).
"""

from collections.abc import Mapping

from django.db.models import QuerySet
from django.shortcuts import get_object_or_404
from django_filters import FilterSet
from django_filters.utils import translate_validation

from ingest.filters import CouponFilter, EventFilter, UserFilter
from ingest.models import Coupon, Event, User


def user_get(*, user_id: int) -> User:
    return get_object_or_404(User, pk=user_id)


def user_list(*, filters: Mapping | None = None) -> QuerySet[User]:
    return _filtered(UserFilter, filters, User.objects.all())


def event_get(*, event_id: int) -> Event:
    return get_object_or_404(Event.objects.select_related("participants"), pk=event_id)


def event_list(*, filters: Mapping | None = None) -> QuerySet[Event]:
    return _filtered(EventFilter, filters, Event.objects.select_related("participants"))


def coupon_get(*, coupon_id: int) -> Coupon:
    return get_object_or_404(_coupons(), pk=coupon_id)


def coupon_list(*, filters: Mapping | None = None) -> QuerySet[Coupon]:
    return _filtered(CouponFilter, filters, _coupons())


def _coupons() -> QuerySet[Coupon]:
    return Coupon.objects.prefetch_related("selections")


def _filtered(filterset_class: type[FilterSet], filters: Mapping | None, queryset: QuerySet):
    filterset = filterset_class(filters or {}, queryset=queryset)
    if not filterset.is_valid():
        raise translate_validation(filterset.errors)
    return filterset.qs
