"""Selections changed one at a time (the admin), or taken away with their event.

A selection has no life of its own: a change to one is a change to its
coupon, so each coupon it touches is stored as it now reads, through the
coupons' one writer (`coupons.coupons_write`). That is where whose bets
changed is worked out: for a selection moved to another coupon or event,
the previous coupon's owner and the previous event too.
"""

from collections import defaultdict
from collections.abc import Iterable
from decimal import Decimal

from django.db import transaction
from django.db.models import QuerySet

from ingest.models import Selection
from ingest.services.coupons import coupons_rewrite

# Coupons rewritten per statement when selections are taken away (SQLite caps query parameters).
CHUNK = 2000


@transaction.atomic
def selection_put(*, selection_id: int | None, coupon_id: int, event_id: int, odds: Decimal) -> int:
    """Add a selection (`selection_id` None) or change one; returns its id now.

    A selection moved to another event is a new row: a coupon holds each
    event once, keyed by the pair.
    """
    previous = Selection.objects.filter(pk=selection_id).values_list("coupon_id", "event_id")
    moved_from = dict(previous)  # {coupon: event} where it was; empty for a new one

    def changed(coupon: dict) -> dict:
        selections = _without(coupon["selections"], {moved_from.get(coupon["id"])})
        if coupon["id"] == coupon_id:
            selections = [*_without(selections, {event_id}), {"event_id": event_id, "odds": odds}]
        return {**coupon, "selections": selections}

    coupons_rewrite({coupon_id, *moved_from}, changed)
    return Selection.objects.get(coupon_id=coupon_id, event_id=event_id).pk


@transaction.atomic
def selections_delete(*, selection_ids: Iterable[int]) -> None:
    """Delete selections: their coupons are stored without them."""
    selections_remove(Selection.objects.filter(pk__in=list(selection_ids)))


def selections_remove(selections: QuerySet) -> None:
    """Store the coupons of these selections without them (inside the caller's transaction)."""
    taken: dict[int, set[int]] = defaultdict(set)
    for coupon_id, event_id in selections.values_list("coupon_id", "event_id"):
        taken[coupon_id].add(event_id)

    def without_taken(coupon: dict) -> dict:
        return {**coupon, "selections": _without(coupon["selections"], taken[coupon["id"]])}

    coupon_ids = sorted(taken)
    for start in range(0, len(coupon_ids), CHUNK):
        coupons_rewrite(coupon_ids[start : start + CHUNK], without_taken)


def _without(selections: list[dict], event_ids: set) -> list[dict]:
    return [s for s in selections if s["event_id"] not in event_ids]
