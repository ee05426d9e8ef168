"""Receivers that only record what changed; one refresh runs when the transaction commits.

Bulk writes announce themselves with `ingest.signals.records_stored`,
single saves and deletes (the admin) with Django's model signals. Only
events and coupons count: a user on their own changes no answer (without
bets they get the shared cold-start answer, served on read). Every
receiver adds ids to the thread's pending `Changes` and asks for `_flush` on
commit; `_flush` hands everything pending to
`services.refresh_recommendations` once, so a consumed batch of 1,000
records costs one refresh, not 1,000. Which users a change affects is the
engine's business, decided in services.
"""

import logging
import threading

from django.db import DatabaseError, transaction
from django.db.models.signals import post_delete, post_save, pre_delete, pre_save
from django.dispatch import receiver

from ingest.models import Coupon, Event, Selection
from ingest.signals import records_stored
from recommendations import services
from recommendations.engines.base import Changes
from recommendations.models import RecommendedEvent

logger = logging.getLogger(__name__)

_local = threading.local()


def _pending() -> Changes:
    if getattr(_local, "changes", None) is None:
        _local.changes = Changes()
    return _local.changes


def _keep(*, users=(), coupons=(), events=(), popular=()) -> None:
    pending = _pending()
    pending.users.update(users)
    pending.coupons.update(coupons)
    pending.events.update(events)
    pending.popular.update(popular)


def _record(*, users=(), coupons=(), events=(), popular=()) -> None:
    _keep(users=users, coupons=coupons, events=events, popular=popular)
    # Registered on every record (cheap; later calls find nothing pending):
    # a callback registered in a savepoint that rolls back is dropped, and
    # this way the outer transaction still has one.
    transaction.on_commit(_flush)


def _flush() -> None:
    changes, _local.changes = _pending(), None
    if not changes:
        return
    try:
        services.refresh_recommendations(changes=changes)
    except DatabaseError:
        # Keep them for the next commit rather than lose the refresh. Not
        # through _record: outside a transaction on_commit runs at once, and
        # would retry in a loop for as long as the database is down.
        logger.exception("refreshing recommendations failed; will retry on the next commit")
        _keep(
            users=changes.users,
            coupons=changes.coupons,
            events=changes.events,
            popular=changes.popular,
        )


@receiver(records_stored, sender=Event)
def events_stored(sender, ids, **kwargs):
    _record(events=ids)


@receiver(records_stored, sender=Coupon)
def coupons_stored(sender, ids, previous_owners=(), **kwargs):
    _record(coupons=ids, users=previous_owners)


@receiver(post_save, sender=Event)
def event_saved(sender, instance, **kwargs):
    _record(events=[instance.pk])


@receiver(pre_save, sender=Coupon)
def coupon_saving(sender, instance, **kwargs):
    """A coupon moved to another user changes its previous owner's answer too."""
    previous = Coupon.objects.filter(pk=instance.pk).values_list("user_id", flat=True).first()
    if previous is not None and previous != instance.user_id:
        _record(users=[previous])


@receiver(post_save, sender=Coupon)
def coupon_saved(sender, instance, **kwargs):
    _record(coupons=[instance.pk])


@receiver(pre_save, sender=Selection)
def selection_saving(sender, instance, **kwargs):
    """A selection moved to another event or coupon changes the previous ones too."""
    if instance.pk is None:
        return
    previous = Selection.objects.filter(pk=instance.pk).values_list("coupon_id", "event_id").first()
    if previous is not None:
        _record(coupons=[previous[0]], popular=[previous[1]])


@receiver(post_save, sender=Selection)
def selection_saved(sender, instance, **kwargs):
    _record(coupons=[instance.coupon_id], popular=[instance.event_id])


@receiver(post_delete, sender=Selection)
def selection_deleted(sender, instance, **kwargs):
    _record(coupons=[instance.coupon_id], popular=[instance.event_id])


@receiver(post_delete, sender=Coupon)
def coupon_deleted(sender, instance, **kwargs):
    _record(users=[instance.user_id])


@receiver(pre_delete, sender=Event)
def event_deleting(sender, instance, **kwargs):
    """The users listing an event lose it from their list when it is deleted."""
    listers = RecommendedEvent.objects.filter(event_id=instance.pk).values_list(
        "recommendation_id", flat=True
    )
    _record(users=list(listers))
