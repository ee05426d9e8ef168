"""Valid records (through the one validation path) for tests that store through services."""

import itertools
from datetime import timedelta

from django.utils import timezone

from ingest.validation import validate_record

_ids = itertools.count(7_000_000)


def user_record(**fields) -> dict:
    data = {"id": next(_ids), "birth_year": 1990, "country": "GR", "currency": "EUR", "gender": "F"}
    return validate_record("users", data | fields)


def event_record(sport="Football", begins_in=timedelta(hours=1), hours=24, **fields) -> dict:
    begin = timezone.now() + begins_in
    event_id = fields.pop("id", None) or next(_ids)
    data = {
        "id": event_id,
        "begin_timestamp": begin.isoformat(),
        "end_timestamp": (begin + timedelta(hours=hours)).isoformat(),
        "country": "GR",
        "league": "League",
        "sport": sport,
        "participants": [f"Home {event_id}", f"Away {event_id}"],
    }
    return validate_record("events", data | fields)


def coupon_record(user_id, event_ids, ago=timedelta(minutes=5), **fields) -> dict:
    data = {
        "id": fields.pop("id", None) or next(_ids),
        "user_id": user_id,
        "stake": "10",
        "timestamp": (timezone.now() - ago).isoformat(),
        "selections": [{"event_id": pk, "odds": "1.8"} for pk in event_ids],
    }
    return validate_record("coupons", data | fields)
