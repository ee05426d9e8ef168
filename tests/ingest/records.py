"""Validated records, as a consumer hands them to `ingest.services`, for the ingest tests."""

from ingest.validation import validate_record


def user(user_id, **changes):
    data = {"id": user_id, "birth_year": 1990, "country": "GR", "currency": "EUR", "gender": "M"}
    data.setdefault("registration_date", "2024-01-01T00:00:00Z")
    return validate_record("users", {**data, **changes})


def event(event_id, participants=("Olympiacos", "PAOK"), **changes):
    data = {
        "id": event_id,
        "begin_timestamp": "2030-05-01T18:00:00Z",
        "end_timestamp": "2030-05-01T20:00:00Z",
        "country": "GR",
        "league": "Superleague",
        "sport": "Football",
        "participants": list(participants),
    }
    return validate_record("events", {**data, **changes})


def coupon(coupon_id, user_id, selections, **changes):
    data = {
        "id": coupon_id,
        "user_id": user_id,
        "stake": 10,
        "timestamp": "2030-04-01T10:00:00Z",
        "selections": [{"event_id": e, "odds": o} for e, o in selections],
    }
    return validate_record("coupons", {**data, **changes})
