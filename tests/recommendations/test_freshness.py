"""The outbox keeps every stored answer equal to a from-scratch rebuild, one refresh per drain."""

import random
from contextlib import contextmanager
from datetime import timedelta

import pytest
from django.db import OperationalError

from ingest import services as ingest_services
from ingest.models import Coupon
from recommendations import outbox, rebuild
from recommendations.drainer import drainer
from recommendations.models import PendingRefresh, Recommendation
from recommendations.outbox import refresh_pending
from tests.recommendations.conftest import from_scratch, personal_answer_count, stored_answers
from tests.records import fresh_user, recent_coupon, upcoming_event

pytestmark = pytest.mark.django_db

SPORTS = ["Football", "football", "FOOTBALL", "Tennis", "tennis", "Golf", "Basketball"]


@contextmanager
def drained():
    """Run a block of writes, then drain the outbox as a consumer or the API would."""
    yield
    refresh_pending()


@pytest.fixture
def rebuild_calls(monkeypatch):
    """Counts the answer rebuilds a drain runs, still calling through."""
    calls = []
    original = outbox.answers_compute

    def counting(user_ids, **kwargs):
        user_ids = list(user_ids)
        calls.append(len(user_ids))
        return original(user_ids, **kwargs)

    monkeypatch.setattr(outbox, "answers_compute", counting)
    return calls


def _random_event(rng, **fields):
    if rng.random() < 0.25:  # ended a while ago
        return upcoming_event(rng.choice(SPORTS), begins_in=timedelta(days=-3), hours=2, **fields)
    begins = timedelta(hours=rng.randint(1, 72), minutes=rng.choice([0, 0, 30]))
    return upcoming_event(rng.choice(SPORTS), begins_in=begins, **fields)


def _random_coupon(rng, user_ids, event_ids, **fields):
    events = rng.sample(event_ids, rng.randint(1, min(3, len(event_ids))))
    return recent_coupon(
        rng.choice(user_ids), events, ago=timedelta(minutes=rng.randint(1, 600)), **fields
    )


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_batches_of_every_kind_leave_every_answer_as_a_full_rebuild_would(seed):
    rng = random.Random(seed)
    users = [fresh_user() for _ in range(25)]
    events = [_random_event(rng) for _ in range(30)]
    with drained():
        ingest_services.store_batch(users=users, events=events)
    assert stored_answers() == from_scratch()
    user_ids = [u["id"] for u in users]
    event_ids = [e["id"] for e in events]
    coupon_ids, owners = [], {}
    for _ in range(8):
        new_events = [_random_event(rng) for _ in range(rng.randint(0, 4))]
        moved = [_random_event(rng, id=pk) for pk in rng.sample(event_ids, 2)]  # sport/time
        new_users = [fresh_user() for _ in range(rng.randint(0, 2))]
        event_ids += [e["id"] for e in new_events]
        user_ids += [u["id"] for u in new_users]
        coupons = [_random_coupon(rng, user_ids, event_ids) for _ in range(rng.randint(1, 8))]
        if coupon_ids:  # a coupon sent again with other selections (same user)
            again = rng.choice(coupon_ids)
            coupon = _random_coupon(rng, user_ids, event_ids, id=again)
            coupons.append(coupon | {"user_id": owners[again]})
        with drained():
            ingest_services.store_batch(users=new_users, events=new_events + moved, coupons=coupons)
        coupon_ids += [c["id"] for c in coupons]
        owners |= {c["id"]: c["user_id"] for c in coupons}
        assert stored_answers() == from_scratch()


@pytest.mark.django_db(transaction=True)
def test_records_posted_to_the_data_api_keep_every_answer_fresh(api_client):
    rng = random.Random(7)
    user_ids, event_ids = [], []
    for step in range(30):
        if True:  # each write wakes the server's drainer after its commit
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
                user = fresh_user()
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
        assert drainer.wait_idle(10)
        assert stored_answers() == from_scratch()
    assert personal_answer_count() == Coupon.objects.values("user").distinct().count()


def test_a_bettor_reads_their_new_bet_at_once_even_before_the_refresh(api_client, monkeypatch):
    monkeypatch.setattr(drainer, "wake", lambda: None)  # the server's drainer is late
    fan, football, golf = fresh_user(), upcoming_event("Football"), upcoming_event("Golf")
    with drained():
        ingest_services.store_batch(
            users=[fan],
            events=[football, golf],
            coupons=[recent_coupon(fan["id"], [football["id"]])],
        )
    body = {
        "user_id": fan["id"],
        "stake": "5",
        "selections": [{"event_id": golf["id"], "odds": "2"}],
    }
    for _ in range(2):
        assert api_client.post("/coupons", body, format="json").status_code == 201
    assert PendingRefresh.objects.filter(ref_id=fan["id"]).exists()
    answer = api_client.get(f"/recommendation/{fan['id']}").json()
    assert answer["reason"] == "2 of your 3 selections are Golf."
    assert Recommendation.objects.get(pk=fan["id"]).sport == "Football"  # reads only read
    refresh_pending()
    assert Recommendation.objects.get(pk=fan["id"]).sport == "Golf"


def test_a_consumed_batch_is_settled_by_one_drain(rebuild_calls):
    users = [fresh_user() for _ in range(50)]
    events = [upcoming_event("Tennis" if i % 2 else "Golf") for i in range(1000)]
    coupons = [
        recent_coupon(users[i % 50]["id"], [events[i]["id"], events[i + 1]["id"]])
        for i in range(0, 600, 2)
    ]
    ingest_services.store_batch(users=users, events=events, coupons=coupons)
    owed = PendingRefresh.objects.count()
    assert owed > 0
    assert refresh_pending().handled == owed
    assert rebuild_calls == [25]  # the users who bet: only they have personal answers
    assert not PendingRefresh.objects.exists()
    assert stored_answers() == from_scratch()


def test_the_outbox_is_drained_exactly_once_and_a_replay_owes_nothing(rebuild_calls):
    user, tennis = fresh_user(), upcoming_event("Tennis")
    coupon = recent_coupon(user["id"], [tennis["id"]])
    batch = {"users": [user], "events": [tennis], "coupons": [coupon]}
    ingest_services.store_batch(**batch)
    owed = PendingRefresh.objects.count()
    assert owed > 0
    assert refresh_pending().handled == owed
    assert refresh_pending().handled == 0
    ingest_services.store_batch(**batch)  # the same batch again, as after a crash
    assert not PendingRefresh.objects.exists()
    assert refresh_pending().handled == 0
    assert len(rebuild_calls) == 1
    assert stored_answers() == from_scratch()


def test_a_drain_that_fails_leaves_the_outbox_for_the_next_one(monkeypatch):
    golfer, golf = fresh_user(), upcoming_event("Golf")
    with drained():
        ingest_services.store_batch(users=[golfer], events=[golf])
    ingest_services.store_batch(coupons=[recent_coupon(golfer["id"], [golf["id"]])])
    owed = PendingRefresh.objects.count()

    def failing(*args, **kwargs):
        raise OperationalError("the database is down")

    with monkeypatch.context() as patched:
        patched.setattr(outbox, "answers_compute", failing)
        with pytest.raises(OperationalError):
            refresh_pending()
    assert PendingRefresh.objects.count() == owed
    assert not Recommendation.objects.filter(pk=golfer["id"]).exists()
    assert refresh_pending().handled == owed
    assert Recommendation.objects.get(pk=golfer["id"]).sport == "Golf"


def test_only_users_concerned_are_rebuilt():
    golfer, tennis_player = fresh_user(), fresh_user()
    golf, tennis = upcoming_event("Golf"), upcoming_event("Tennis")
    with drained():
        ingest_services.store_batch(
            users=[golfer, tennis_player],
            events=[golf, tennis],
            coupons=[
                recent_coupon(golfer["id"], [golf["id"]]),
                recent_coupon(tennis_player["id"], [tennis["id"]]),
            ],
        )
    before = Recommendation.objects.get(pk=tennis_player["id"]).generated_at
    with drained():
        ingest_services.store_batch(events=[upcoming_event("golf")])
    assert Recommendation.objects.get(pk=tennis_player["id"]).generated_at == before
    assert stored_answers() == from_scratch()


def test_a_batch_committed_during_a_full_rebuild_is_not_overwritten(settings):
    users = [fresh_user() for _ in range(12)]
    events = [upcoming_event("Tennis", begins_in=timedelta(hours=h + 1)) for h in range(6)]
    with drained():
        ingest_services.store_batch(
            users=users, events=events, coupons=[recent_coupon(users[0]["id"], [events[0]["id"]])]
        )
    settings.RECOMMENDATION_REBUILD_CHUNK_SIZE = 3
    last = events[-1]["id"]

    def bets_arrive_after_the_first_chunk(done):
        if done == 3 and not Coupon.objects.filter(selections__event_id=last).exists():
            with drained():  # the last event becomes the most popular
                ingest_services.store_batch(
                    coupons=[
                        recent_coupon(users[-1]["id"], [last]),
                        recent_coupon(users[-2]["id"], [last]),
                    ]
                )

    rebuild.rebuild_all(on_progress=bets_arrive_after_the_first_chunk)
    assert stored_answers() == from_scratch()
    assert stored_answers()[users[5]["id"]][-1][0] == last


def test_a_coupon_resent_for_another_user_refreshes_its_previous_owner():
    first, second = fresh_user(), fresh_user()
    golf, tennis = upcoming_event("Golf"), upcoming_event("Tennis")
    coupon = recent_coupon(first["id"], [golf["id"]])
    with drained():
        ingest_services.store_batch(
            users=[first, second],
            events=[golf, tennis],
            coupons=[coupon, recent_coupon(second["id"], [tennis["id"]])],
        )
    assert Recommendation.objects.get(pk=first["id"]).sport == "Golf"
    with drained():  # the source corrects the coupon's owner, as a consumer would store it
        ingest_services.store_batch(coupons=[{**coupon, "user_id": second["id"]}])
    assert not Recommendation.objects.filter(pk=first["id"]).exists()  # no bets left: shared
    assert stored_answers() == from_scratch()


def test_a_drain_overtaken_by_another_plans_again_under_the_lock(monkeypatch):
    fan, golf, tennis = fresh_user(), upcoming_event("Golf"), upcoming_event("Tennis")
    with drained():
        ingest_services.store_batch(
            users=[fan], events=[golf, tennis], coupons=[recent_coupon(fan["id"], [golf["id"]])]
        )
    ingest_services.store_batch(coupons=[recent_coupon(fan["id"], [tennis["id"]])])
    plans, original = [], outbox._plan

    def overtaken(now):
        plan = original(now)
        plans.append(plan)
        if len(plans) == 1:  # meanwhile, another process stores bets and drains them
            ingest_services.store_batch(coupons=[recent_coupon(fan["id"], [tennis["id"]])])
            refresh_pending()
        return plan

    monkeypatch.setattr(outbox, "_plan", overtaken)
    refresh_pending()
    assert len(plans) == 3  # planned, overtaken (the other drain's plan), planned again
    assert not PendingRefresh.objects.exists()
    assert Recommendation.objects.get(pk=fan["id"]).reason == "2 of your 3 selections are Tennis."
    assert stored_answers() == from_scratch()


def test_a_rebuild_ends_fresh_though_a_drain_wrote_during_it_and_bets_were_withdrawn(settings):
    """A drain writes answers mid-rebuild; the bets behind them are withdrawn before it ends.

    The withdrawal brings the ranking back to the one the rebuild started
    from, so only the snapshot the drain wrote tells which answers it left
    behind: the rebuild's catch-up must compare with that snapshot too.
    """
    users = [fresh_user() for _ in range(9)]
    events = [upcoming_event("Tennis", begins_in=timedelta(hours=h + 1)) for h in range(6)]
    with drained():
        ingest_services.store_batch(
            users=users,
            events=events,
            coupons=[recent_coupon(u["id"], [events[0]["id"]]) for u in users],
        )
    settings.RECOMMENDATION_REBUILD_CHUNK_SIZE = 3
    last = events[-1]["id"]
    backers = [users[-1]["id"], users[-2]["id"]]

    def bets_come_and_go_after_the_first_chunk(done):
        if done != 3 or Coupon.objects.filter(selections__event_id=last).exists():
            return
        with drained():  # the last event becomes the most popular, drained at once
            ingest_services.store_batch(coupons=[recent_coupon(pk, [last]) for pk in backers])
        assert stored_answers()[users[0]["id"]][-1][0] == last
        # ...and the bets are withdrawn; no drain has run yet when the rebuild ends
        withdrawn = Coupon.objects.filter(selections__event_id=last).values_list("pk", flat=True)
        ingest_services.coupons_delete(coupon_ids=list(withdrawn))

    rebuild.rebuild_all(on_progress=bets_come_and_go_after_the_first_chunk)
    assert stored_answers() == from_scratch()
    refresh_pending()  # the withdrawal's own drain
    assert stored_answers() == from_scratch()
    assert stored_answers()[users[0]["id"]][-1][0] != last
