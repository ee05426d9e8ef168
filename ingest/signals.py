"""Signals ingest sends when what others depend on changes, with the facts worked out.

`bulk_create` sends no `post_save`, so the services announce what they
stored themselves, inside the transaction that wrote it:

- `events_written(event_ids=[...])`: events stored new or changed (their
  sport or times may differ);
- `bets_changed(user_ids=[...], event_ids=[...])`: the users whose bets
  changed (the owners of coupons written, and the previous owner of a
  coupon moved to another user) and the events whose selections changed.

Users on their own send nothing: nobody depends on them. Receivers must
only record what they owe, in the same transaction (recommendations'
outbox), and do the work later.
"""

from django.dispatch import Signal

events_written = Signal()
bets_changed = Signal()
