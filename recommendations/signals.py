"""Receivers that record what a change owes the stored answers, in the change's own transaction.

Bulk writes announce themselves with ingest's `events_written` and
`bets_changed`, which carry the affected ids already worked out; single
saves and deletes (the admin) with Django's model signals. Every receiver
only adds rows to the outbox (`outbox.outbox_add`): the refresh runs when
someone drains it (`outbox.refresh_pending`), never here.
"""

from django.db.models.signals import post_delete, post_save, pre_delete, pre_save
from django.dispatch import receiver

from ingest.hooks import bets_changed, events_written
from ingest.models import Coupon, Event, Selection
from recommendations.models import RecommendedEvent
from recommendations.outbox import outbox_add


@receiver(events_written)
def events_stored(sender, event_ids, **kwargs):
    outbox_add(events=event_ids)


@receiver(bets_changed)
def bets_stored(sender, user_ids, event_ids, **kwargs):
    outbox_add(users=user_ids, popular=event_ids)


@receiver(post_save, sender=Event)
def event_saved(sender, instance, **kwargs):
    outbox_add(events=[instance.pk])


@receiver(pre_delete, sender=Event)
def event_deleting(sender, instance, **kwargs):
    """The users listing an event lose it from their list when it is deleted."""
    listers = RecommendedEvent.objects.filter(event_id=instance.pk).values_list(
        "recommendation_id", flat=True
    )
    outbox_add(users=list(listers), events=[instance.pk])


@receiver(pre_save, sender=Coupon)
def coupon_saving(sender, instance, **kwargs):
    """A coupon moved to another user changes its previous owner's answer too."""
    previous = Coupon.objects.filter(pk=instance.pk).values_list("user_id", flat=True).first()
    if previous is not None and previous != instance.user_id:
        outbox_add(users=[previous])


@receiver(post_save, sender=Coupon)
@receiver(post_delete, sender=Coupon)
def coupon_changed(sender, instance, **kwargs):
    outbox_add(users=[instance.user_id])


def _owner(coupon_id: int) -> list[int]:
    return list(Coupon.objects.filter(pk=coupon_id).values_list("user_id", flat=True))


@receiver(pre_save, sender=Selection)
def selection_saving(sender, instance, **kwargs):
    """A selection moved to another event or coupon changes the previous ones too."""
    if instance.pk is None:
        return
    previous = Selection.objects.filter(pk=instance.pk).values_list("coupon_id", "event_id").first()
    if previous is not None:
        outbox_add(users=_owner(previous[0]), popular=[previous[1]])


@receiver(post_save, sender=Selection)
@receiver(post_delete, sender=Selection)
def selection_changed(sender, instance, **kwargs):
    outbox_add(users=_owner(instance.coupon_id), popular=[instance.event_id])
