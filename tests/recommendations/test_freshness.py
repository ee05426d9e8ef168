"""Signals keep every stored answer equal to a from-scratch rebuild, one refresh per commit."""

import random
from datetime import timedelta

import pytest
from django.utils import timezone

from ingest import services as ingest_services
from ingest.models import Coupon, Event, Selection
from recommendations import services
from recommendations.models import Recommendation
from tests.recommendations.conftest import from_scratch, personal_answer_count, stored_answers
from tests.recommendations.records import coupon_record, event_record, user_record

pytestmark = pytest.mark.django_db

SPORTS = ["Football", "football", "FOOTBALL", "Tennis", "tennis", "Golf", "Basketball"]


@pytest.fixture
def committed(django_capture_on_commit_callbacks):
    """Run a block as if its transaction committed: on_commit callbacks run after it."""
    return lambda: django_capture_on_commit_callbacks(execute=True)


@pytest.fixture
def refresh_calls(monkeypatch):
    """Counts calls to the refresh and rebuild services while still calling through."""
    calls = {"refresh": 0, "rebuild": 0}
    refresh, rebuild = services.refresh_recommendations, services.rebuild_for_users

    def counting_refresh(**kwargs):
        calls["refresh"] += 1
        return refresh(**kwargs)

    def counting_rebuild(**kwargs):
        calls["rebuild"] += 1
        return rebuild(**kwargs)

    monkeypatch.setattr(services, "refresh_recommendations", counting_refresh)
    monkeypatch.setattr(services, "rebuild_for_users", counting_rebuild)
    return calls


def _random_event(rng, **fields):
    if rng.random() < 0.25:  # ended a while ago
        return event_record(rng.choice(SPORTS), begins_in=timedelta(days=-3), hours=2, **fields)
    begins = timedelta(hours=rng.randint(1, 72), minutes=rng.choice([0, 0, 30]))
    return event_record(rng.choice(SPORTS), begins_in=begins, **fields)


def _random_coupon(rng, user_ids, event_ids, **fields):
    events = rng.sample(event_ids, rng.randint(1, min(3, len(event_ids))))
    return coupon_record(
        rng.choice(user_ids), events, ago=timedelta(minutes=rng.randint(1, 600)), **fields
    )


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_batches_of_every_kind_leave_every_answer_as_a_full_rebuild_would(committed, seed):
    rng = random.Random(seed)
    users = [user_record() for _ in range(25)]
    events = [_random_event(rng) for _ in range(30)]
    with committed():
        ingest_services.store_batch(users=users, events=events)
    assert stored_answers() == from_scratch()
    user_ids = [u["id"] for u in users]
    event_ids = [e["id"] for e in events]
    coupon_ids, owners = [], {}
    for _ in range(8):
        new_events = [_random_event(rng) for _ in range(rng.randint(0, 4))]
        moved = [_random_event(rng, id=pk) for pk in rng.sample(event_ids, 2)]  # sport/time
        new_users = [user_record() for _ in range(rng.randint(0, 2))]
        event_ids += [e["id"] for e in new_events]
        user_ids += [u["id"] for u in new_users]
        coupons = [_random_coupon(rng, user_ids, event_ids) for _ in range(rng.randint(1, 8))]
        if coupon_ids:  # a coupon sent again with other selections (same user)
            again = rng.choice(coupon_ids)
            coupon = _random_coupon(rng, user_ids, event_ids, id=again)
            coupons.append(coupon | {"user_id": owners[again]})
        with committed():
            ingest_services.store_batch(users=new_users, events=new_events + moved, coupons=coupons)
        coupon_ids += [c["id"] for c in coupons]
        owners |= {c["id"]: c["user_id"] for c in coupons}
        assert stored_answers() == from_scratch()


def test_records_posted_to_the_data_api_keep_every_answer_fresh(api_client, committed):
    rng = random.Random(7)
    user_ids, event_ids = [], []
    for step in range(30):
        with committed():
            if step % 3 == 0 or not event_ids:
                event = _random_event(rng)
                body = {
                    **event,
                    "begin_timestamp": event["begin_timestamp"].isoformat(),
                    "end_timestamp": event["end_timestamp"].isoformat(),
                }
                assert api_client.post("/events", body, format="json").status_code == 201
                event_ids.append(event["id"])
            if step % 4 == 0 or not user_ids:
                user = user_record()
                body = {**user, "registration_date": user["registration_date"].isoformat()}
                assert api_client.post("/users", body, format="json").status_code == 201
                user_ids.append(user["id"])
            else:
                coupon = _random_coupon(rng, user_ids, event_ids)
                body = {
                    "user_id": coupon["user_id"],
                    "stake": "5",
                    "timestamp": coupon["timestamp"].isoformat(),
                    "selections": [
                        {"event_id": s["event_id"], "odds": "2"} for s in coupon["selections"]
                    ],
                }
                assert api_client.post("/coupons", body, format="json").status_code == 201
        assert stored_answers() == from_scratch()
    assert personal_answer_count() == Coupon.objects.values("user").distinct().count()


def test_a_consumed_batch_triggers_exactly_one_refresh(committed, refresh_calls):
    users = [user_record() for _ in range(50)]
    events = [event_record("Tennis" if i % 2 else "Golf") for i in range(1000)]
    coupons = [
        coupon_record(users[i % 50]["id"], [events[i]["id"], events[i + 1]["id"]])
        for i in range(0, 600, 2)
    ]
    with committed():
        ingest_services.store_batch(users=users, events=events, coupons=coupons)
    assert refresh_calls == {"refresh": 1, "rebuild": 1}
    assert stored_answers() == from_scratch()


def test_a_replayed_batch_changes_nothing_and_refreshes_nothing(committed, refresh_calls):
    users = [user_record()]
    events = [event_record("Tennis")]
    with committed():
        ingest_services.store_batch(users=users, events=events)
    with committed():
        ingest_services.store_batch(users=users, events=events)
    assert refresh_calls["refresh"] == 1


def test_only_users_concerned_are_rebuilt(committed, refresh_calls):
    golfer, tennis_player = user_record(), user_record()
    golf, tennis = event_record("Golf"), event_record("Tennis")
    with committed():
        ingest_services.store_batch(
            users=[golfer, tennis_player],
            events=[golf, tennis],
            coupons=[
                coupon_record(golfer["id"], [golf["id"]]),
                coupon_record(tennis_player["id"], [tennis["id"]]),
            ],
        )
    before = Recommendation.objects.get(pk=tennis_player["id"]).generated_at
    with committed():
        ingest_services.store_batch(events=[event_record("golf")])
    assert Recommendation.objects.get(pk=tennis_player["id"]).generated_at == before
    assert stored_answers() == from_scratch()


def test_single_saves_and_deletes_as_in_the_admin_keep_answers_fresh(committed):
    user = user_record()
    events = [event_record(sport) for sport in ["Golf", "Golf", "Tennis", "Tennis", "Tennis"]]
    with committed():
        ingest_services.store_batch(
            users=[user, user_record()],
            events=events,
            coupons=[coupon_record(user["id"], [events[0]["id"]])],
        )
    assert stored_answers() == from_scratch()
    with committed():  # an event moves to another sport
        event = Event.objects.get(pk=events[2]["id"])
        event.sport = "Golf"
        event.save()
    assert stored_answers() == from_scratch()
    with committed():  # an event ends early
        event = Event.objects.get(pk=events[1]["id"])
        event.begin_timestamp = timezone.now() - timedelta(hours=3)
        event.end_timestamp = timezone.now() - timedelta(hours=1)
        event.save()
    assert stored_answers() == from_scratch()
    with committed():  # a selection is added by hand
        Selection.objects.create(
            coupon=Coupon.objects.get(user_id=user["id"]), event_id=events[3]["id"], odds=2
        )
    assert stored_answers() == from_scratch()
    with committed():  # and the coupon is deleted
        Coupon.objects.filter(user_id=user["id"]).delete()
    assert stored_answers() == from_scratch()
    with committed():  # an event is deleted
        Event.objects.filter(pk=events[4]["id"]).delete()
    assert stored_answers() == from_scratch()


def test_a_batch_committed_during_a_full_rebuild_is_not_overwritten(committed, monkeypatch):
    users = [user_record() for _ in range(12)]
    events = [event_record("Tennis", begins_in=timedelta(hours=h + 1)) for h in range(6)]
    with committed():
        ingest_services.store_batch(
            users=users, events=events, coupons=[coupon_record(users[0]["id"], [events[0]["id"]])]
        )
    monkeypatch.setattr(services, "CHUNK_SIZE", 3)
    last = events[-1]["id"]

    def bets_arrive_after_the_first_chunk(done):
        if done == 3 and not Coupon.objects.filter(selections__event_id=last).exists():
            with committed():  # the last event becomes the most popular
                ingest_services.store_batch(
                    coupons=[
                        coupon_record(users[-1]["id"], [last]),
                        coupon_record(users[-2]["id"], [last]),
                    ]
                )

    services.rebuild_all(on_progress=bets_arrive_after_the_first_chunk)
    assert stored_answers() == from_scratch()
    assert stored_answers()[users[5]["id"]][-1][0] == last


def test_a_coupon_resent_for_another_user_refreshes_its_previous_owner(committed):
    first, second = user_record(), user_record()
    golf, tennis = event_record("Golf"), event_record("Tennis")
    coupon = coupon_record(first["id"], [golf["id"]])
    with committed():
        ingest_services.store_batch(
            users=[first, second],
            events=[golf, tennis],
            coupons=[coupon, coupon_record(second["id"], [tennis["id"]])],
        )
    assert Recommendation.objects.get(pk=first["id"]).sport == "Golf"
    with committed():  # the source corrects the coupon's owner, as a consumer would store it
        ingest_services.store_batch(coupons=[{**coupon, "user_id": second["id"]}])
    assert not Recommendation.objects.filter(pk=first["id"]).exists()  # no bets left: shared
    assert stored_answers() == from_scratch()


@pytest.mark.django_db(transaction=True)
def test_a_failing_refresh_outside_a_transaction_is_kept_for_later_not_retried_in_a_loop(
    monkeypatch,
):
    from django.db import OperationalError

    from recommendations import signals

    calls = []

    def failing_refresh(**kwargs):
        calls.append(kwargs)
        raise OperationalError("the database is down")

    monkeypatch.setattr(services, "refresh_recommendations", failing_refresh)
    signals._record(users=[1])  # autocommit: on_commit runs at once
    assert len(calls) == 1
    assert 1 in signals._pending().users
    signals._local.changes = None
