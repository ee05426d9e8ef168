"""Receivers of ingest's what-changed hooks: each records what a change owes the stored answers.

Every write of users, events, coupons and selections goes through
`ingest.services` (the consumers, the data API, the admin), which sends
`events_written` and `bets_changed` with the affected ids already worked
out. The receivers only add rows to the outbox (`outbox.outbox_add`), in
the change's own transaction: the refresh runs when someone drains it
(`outbox.refresh_pending`), never here. `RecommendationsConfig.ready()`
connects them.
"""

from recommendations.models import RecommendedEvent
from recommendations.outbox import outbox_add


def events_stored(sender, event_ids, deleted=False, **kwargs):
    """Events written; for events about to be deleted, also the users whose lists show them.

    Their ranked rows go with the event, so who lists it is read now.
    """
    listers = []
    if deleted:
        listers = RecommendedEvent.objects.filter(event_id__in=event_ids).values_list(
            "recommendation_id", flat=True
        )
    outbox_add(users=list(listers), events=event_ids)


def bets_stored(sender, user_ids, event_ids, **kwargs):
    """Bets changed: their users' answers, and the popularity of their events."""
    outbox_add(users=user_ids, popular=event_ids)
