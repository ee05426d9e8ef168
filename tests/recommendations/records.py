"""Presets for recommendation tests, built by tests/records.py: what ranking depends on.

Every record gets a fresh id; an event begins an hour from now and lasts a
day; a bet was placed five minutes ago (so the bets of a test are ordered as
it placed them, which the most-recent-sport tie-break reads).
"""

from datetime import timedelta

from tests.records import new_id, valid_coupon, valid_event, valid_user


def user_record(**fields) -> dict:
    return valid_user(fields.pop("id", None) or new_id(), **fields)


def event_record(sport="Football", begins_in=timedelta(hours=1), hours=24, **fields) -> dict:
    event_id = fields.pop("id", None) or new_id()
    return valid_event(event_id, sport, begins_in=begins_in, hours=hours, **fields)


def coupon_record(user_id, event_ids, ago=timedelta(minutes=5), **fields) -> dict:
    return valid_coupon(fields.pop("id", None) or new_id(), user_id, event_ids, ago=ago, **fields)
