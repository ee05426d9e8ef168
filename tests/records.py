"""Wire records: dicts as a client sends them to the API, the producer endpoints or a topic.

The one way tests build records (docs/records.md); model rows a test needs
as given come from tests/factories.py instead. Defaults are fixed, so the
same call gives the same record and a replay is really a replay; an `id`
left out leaves the record without one (the producer, the API or the
consumer assigns it); `begins_in`/`hours` and `ago` give times relative to
now where a test needs an event about to begin or a recent bet.

`valid_user`/`valid_event`/`valid_coupon` are the same records through the
one validation path, as a consumer hands them to `ingest.services`: what a
consumer fills from the message's timestamp (a registration date) is a
fixed instant here. `fresh_user`/`upcoming_event`/`recent_coupon` are those
for tests of rankings, with what ranking depends on: a new id each, an event
beginning an hour from now and lasting a day, a bet placed five minutes ago
(so a test's bets are ordered as it placed them, which the most-recent-sport
tie-break reads).
"""

import itertools
from collections.abc import Iterable
from datetime import timedelta

from django.utils import timezone

from ingest.validation import validate_record

EVENT_BEGINS = "2030-05-01T18:00:00Z"
EVENT_ENDS = "2030-05-01T20:00:00Z"
COUPON_PLACED = "2030-04-01T10:00:00Z"
USER_REGISTERED = "2024-01-01T00:00:00Z"

# Above the factories' ids (10_000..., 50_000..., 90_000...), below the derived and leased ones.
_ids = itertools.count(7_000_000)


def new_id() -> int:
    """An id no other record of this test process has had."""
    return next(_ids)


def _identified(id: int | None, record: dict) -> dict:
    return record if id is None else {"id": id, **record}


def user(id: int | None = None, **fields) -> dict:
    return _identified(
        id, {"birth_year": 1990, "country": "GR", "currency": "EUR", "gender": "M", **fields}
    )


def event(
    id: int | None = None,
    sport: str = "Football",
    *,
    begins_in: timedelta | None = None,
    hours: float = 2,
    **fields,
) -> dict:
    """An event of `sport`; with `begins_in`, beginning that long from now and lasting `hours`."""
    if begins_in is None:
        begin, end = EVENT_BEGINS, EVENT_ENDS
    else:
        starts = timezone.now() + begins_in
        begin, end = starts.isoformat(), (starts + timedelta(hours=hours)).isoformat()
    participants = ["Olympiacos", "PAOK"] if id is None else [f"Home {id}", f"Away {id}"]
    record = {
        "begin_timestamp": begin,
        "end_timestamp": end,
        "country": "GR",
        "league": "Superleague",
        "sport": sport,
        "participants": participants,
    }
    return _identified(id, record | fields)


def _selection(selection) -> dict:
    if isinstance(selection, dict):
        return selection
    if isinstance(selection, tuple):
        event_id, odds = selection
        return {"event_id": event_id, "odds": odds}
    return {"event_id": selection, "odds": "1.50"}


def coupon(
    id: int | None = None,
    user_id: int = 1,
    selections: Iterable = (5,),
    *,
    ago: timedelta | None = None,
    **fields,
) -> dict:
    """A coupon of `user_id` on `selections`: event ids (odds 1.50), (id, odds) pairs or dicts.

    Placed at a fixed instant, or `ago` before now.
    """
    placed = COUPON_PLACED if ago is None else (timezone.now() - ago).isoformat()
    record = {
        "user_id": user_id,
        "stake": "10.00",
        "timestamp": placed,
        "selections": [_selection(s) for s in selections],
    }
    return _identified(id, record | fields)


def without(record: dict, *names: str) -> dict:
    """The record without these fields (to see what their absence does)."""
    return {name: value for name, value in record.items() if name not in names}


def valid_user(id: int | None = None, **fields) -> dict:
    return validate_record("users", user(id, **{"registration_date": USER_REGISTERED, **fields}))


def valid_event(id: int | None = None, sport: str = "Football", **fields) -> dict:
    return validate_record("events", event(id, sport, **fields))


def valid_coupon(id: int | None = None, user_id: int = 1, selections: Iterable = (5,), **fields):
    return validate_record("coupons", coupon(id, user_id, selections, **fields))


def fresh_user(**fields) -> dict:
    return valid_user(fields.pop("id", None) or new_id(), **fields)


def upcoming_event(sport="Football", begins_in=timedelta(hours=1), hours=24, **fields) -> dict:
    event_id = fields.pop("id", None) or new_id()
    return valid_event(event_id, sport, begins_in=begins_in, hours=hours, **fields)


def recent_coupon(user_id, event_ids, ago=timedelta(minutes=5), **fields) -> dict:
    return valid_coupon(fields.pop("id", None) or new_id(), user_id, event_ids, ago=ago, **fields)
