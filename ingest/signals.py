"""Signals the ingest services send after writing rows in bulk.

`bulk_create` sends no `post_save`, so services announce what they stored
themselves: `records_stored(sender=<model class>, ids=[...])`, inside the
transaction that wrote them. For coupons it also carries `previous_owners`:
users whose coupons were moved to another user by this write. Receivers
(recommendations) should only record what changed and act on commit.
"""

from django.dispatch import Signal

records_stored = Signal()
