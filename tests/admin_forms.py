"""What a browser posts to ingest's admin forms, built from stored rows with some fields changed.

Times are split into the admin's date and time inputs; a coupon's form
carries its selection rows (the inline formset) as they are stored, with
some marked for deletion and new ones added.
"""

from datetime import datetime

from django.urls import reverse
from django.utils import timezone

from ingest.models import Coupon, Event, Selection, User


def admin_url(model, page: str, *args) -> str:
    """An admin page of an ingest model: "changelist", "add", "change" or "delete"."""
    return reverse(f"admin:ingest_{model._meta.model_name}_{page}", args=args)


def _posted(values: dict) -> dict:
    posted = {}
    for name, value in values.items():
        if isinstance(value, datetime):
            moment = timezone.localtime(value)
            posted[f"{name}_0"], posted[f"{name}_1"] = moment.date(), moment.time()
        else:
            posted[name] = value
    return posted


def user_form(user: User, **changes) -> dict:
    fields = ["birth_year", "country", "currency", "gender", "registration_date"]
    return _posted({name: getattr(user, name) for name in fields} | changes)


def event_form(event: Event, **changes) -> dict:
    fields = ["begin_timestamp", "end_timestamp", "country", "league", "sport"]
    values = {name: getattr(event, name) for name in fields}
    return _posted(values | {"participants": event.participants_id} | changes)


def coupon_form(coupon: Coupon, *, drop=(), add=(), **changes) -> dict:
    """The coupon's form with its stored selections, those on events `drop` marked for
    deletion and one new row per (event id, odds) in `add`."""
    stored = list(coupon.selections.order_by("id"))
    rows = [
        {"id": s.pk, "coupon": coupon.pk, "event": s.event_id, "odds": s.odds}
        | ({"DELETE": "on"} if s.event_id in drop else {})
        for s in stored
    ]
    rows += [{"coupon": coupon.pk, "event": event_id, "odds": odds} for event_id, odds in add]
    values = {"user": coupon.user_id, "stake": coupon.stake, "timestamp": coupon.timestamp}
    posted = _posted(values | changes)
    posted |= {"selections-TOTAL_FORMS": len(rows), "selections-INITIAL_FORMS": len(stored)}
    for index, row in enumerate(rows):
        posted |= {f"selections-{index}-{name}": value for name, value in row.items()}
    return posted


def selection_form(selection: Selection, **changes) -> dict:
    values = {"coupon": selection.coupon_id, "event": selection.event_id, "odds": selection.odds}
    return values | changes


def accepted(response) -> None:
    """The admin took the post: it redirects (a form with errors is shown again, 200)."""
    assert response.status_code == 302, response.context and response.context["adminform"].errors
