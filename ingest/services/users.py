"""Storing users."""

from collections.abc import Iterable

from django.db import transaction

from ingest.models import User
from ingest.services.upserts import last_per_id, upsert

USER_FIELDS = ["birth_year", "country", "currency", "gender", "registration_date"]


@transaction.atomic
def users_upsert(*, records: Iterable[dict]) -> list[int]:
    """Store users; returns the ids that were new or changed.

    Users on their own announce nothing: no answer depends on a user's fields.
    """
    rows = [User(**record) for record in last_per_id(records)]
    return upsert(User, rows, USER_FIELDS)
