"""generate_dummy writes the seed's format; load_dummy stores it through validation and services."""

import json
from collections import Counter
from datetime import datetime, timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from ingest.models import Coupon, Event, ParkedCoupon, Selection, User


def _generate(path, *, users=20, events=30, coupons=50, seed=7, taste=1.0):
    call_command(
        "generate_dummy",
        users=users,
        events=events,
        coupons=coupons,
        output=str(path),
        seed=seed,
        taste=taste,
        stdout=StringIO(),
    )
    return json.loads(path.read_text())


def _load(path, **options):
    out = StringIO()
    call_command("load_dummy", str(path), verbosity=0, stdout=out, **options)
    return out.getvalue()


def test_generated_file_has_the_seed_format(tmp_path):
    data = _generate(tmp_path / "dummy.json")
    assert set(data["users"][0]) == {
        "birth_year", "country", "currency", "gender", "registration_date", "user_id",
    }  # fmt: skip
    event = data["events"][0]
    assert event["event_id"].isdigit()
    assert len(event["participants"]) == 2
    assert event["begin_timestamp"][10] == " "  # the seed's space-separated timestamps
    coupon = data["coupons"][0]
    user_ids = {u["user_id"] for u in data["users"]}
    event_ids = {e["event_id"] for e in data["events"]}
    assert all(c["user_id"] in user_ids for c in data["coupons"])
    assert all(s["event_id"] in event_ids and s["odds"] > 1 for s in coupon["selections"])


def test_same_seed_gives_the_same_records(tmp_path):
    first = _generate(tmp_path / "a.json", seed=3)
    second = _generate(tmp_path / "b.json", seed=3)
    assert [u["user_id"] for u in first["users"]] == [u["user_id"] for u in second["users"]]
    assert first["coupons"][0]["selections"] == second["coupons"][0]["selections"]


@pytest.mark.django_db
def test_round_trip_stores_everything_the_file_holds(tmp_path):
    path = tmp_path / "dummy.json"
    data = _generate(path)
    report = _load(path)
    assert User.objects.count() == len(data["users"])
    assert Event.objects.count() == len(data["events"])
    assert Coupon.objects.count() == len(data["coupons"])
    assert Selection.objects.count() == sum(len(c["selections"]) for c in data["coupons"])
    assert "0 refused" in report
    now = timezone.now()
    assert Event.objects.filter(end_timestamp__gt=now).exists()  # open events to recommend
    assert Event.objects.filter(end_timestamp__lte=now).exists()


@pytest.mark.django_db
def test_loading_twice_writes_nothing_new(tmp_path):
    path = tmp_path / "dummy.json"
    _generate(path, users=5, events=5, coupons=5)
    _load(path)
    report = _load(path, batch_size=2)
    assert "users: 5 read, 5 stored (0 new or changed, 5 unchanged), 0 refused" in report
    assert Coupon.objects.count() == 5


@pytest.mark.django_db
def test_bad_records_are_reported_and_the_rest_stored(tmp_path):
    path = tmp_path / "dummy.json"
    data = _generate(path, users=3, events=3, coupons=3)
    data["users"][1]["birth_year"] = timezone.now().year  # too young
    data["events"][2]["participants"] = ["Only one"]
    data["coupons"][0]["user_id"] = 424242  # not in the file, not stored
    data["coupons"][2]["selections"][0]["odds"] = 1.0
    path.write_text(json.dumps(data))

    report = _load(path)

    assert "refused users[1]: birth_year:" in report
    assert "refused events[2]: participants:" in report
    assert "refused coupons[0]: user_id: User 424242 does not exist." in report
    assert "refused coupons[2]: selections[0].odds: Must be greater than 1.0." in report
    assert User.objects.count() == 2
    assert Event.objects.count() == 2
    stored = set(Coupon.objects.values_list("id", flat=True))
    assert data["coupons"][0]["coupon_id"] not in stored
    assert ParkedCoupon.objects.count() == 0  # refused, not parked


def test_unreadable_file_is_a_clear_error(tmp_path):
    path = tmp_path / "broken.json"
    path.write_text("{not json")
    with pytest.raises(Exception, match="not valid JSON"):
        _load(path)


def _top_sport_share(data) -> float:
    """How much of a user's selections their most-bet sport takes, on average over users."""
    sport_of = {event["event_id"]: event["sport"] for event in data["events"]}
    counts: dict[int, Counter] = {}
    for coupon in data["coupons"]:
        tally = counts.setdefault(coupon["user_id"], Counter())
        tally.update(sport_of[s["event_id"]] for s in coupon["selections"])
    return sum(max(c.values()) / c.total() for c in counts.values()) / len(counts)


def test_taste_makes_users_stick_to_their_sports_and_0_picks_uniformly(tmp_path):
    shares = {}
    for taste in (0, 1, 5):
        data = _generate(
            tmp_path / f"{taste}.json", users=40, events=400, coupons=2000, taste=taste
        )
        shares[taste] = _top_sport_share(data)
    assert shares[0] < 0.35  # seven sports, no preference: about a fifth, by chance a bit more
    assert shares[0] < shares[1] < shares[5]
    assert shares[5] > 0.5


def test_coupons_are_spread_over_a_month_each_placed_before_its_events_start(tmp_path):
    data = _generate(tmp_path / "dummy.json", users=20, events=200, coupons=500)
    begins = {event["event_id"]: event["begin_timestamp"] for event in data["events"]}
    placed = sorted(coupon["timestamp"] for coupon in data["coupons"])
    first, last = (datetime.fromisoformat(placed[i]) for i in (0, -1))
    assert last - first > timedelta(days=25)
    for coupon in data["coupons"]:
        assert all(coupon["timestamp"] < begins[s["event_id"]] for s in coupon["selections"])


def test_taste_out_of_range_is_refused(tmp_path):
    with pytest.raises(CommandError, match="--taste must be from 0 to 100"):
        _generate(tmp_path / "dummy.json", taste=-1)
