"""A process killed at any step leaves no answer stale for good: the next one finishes the job.

Each test kills a real process (SIGKILL, through `BETRECO_CRASH_AT`) at a
step boundary, then lets the next process run and compares every stored
answer with a from-scratch computation.
"""

import json
import os
import signal
import subprocess
import sys
from datetime import timedelta

import pytest
from django.utils import timezone

from betreco.processes import PROJECT_DIR
from ingest import services as ingest_services
from ingest.kafka.topics import RECORD_KINDS
from recommendations.models import PendingRefresh, Recommendation
from recommendations.outbox import refresh_pending
from recommendations.rebuild import rebuild_request
from tests.kafka_pipeline import database_url, wait_until
from tests.recommendations.conftest import from_scratch, stored_answers
from tests.records import coupon, event, fresh_user, recent_coupon, upcoming_event, user

FAN = 1


def _a_football_fan(pipeline) -> list[dict]:
    """User 1 bet once on Football; ten Golf events wait for bets. Consumed and settled."""
    pipeline.produce("users", [user(FAN), user(2)])
    pipeline.produce("events", [event(100, "Football"), event(101, "Football")])
    golf = [event(pk, "Golf") for pk in range(200, 212)]
    pipeline.produce("events", golf)
    pipeline.produce("coupons", [coupon(500, FAN, [100]), coupon(501, 2, [200, 201])])
    pipeline.consume(*RECORD_KINDS)
    assert Recommendation.objects.get(pk=FAN).sport == "Football"
    return golf


def _ten_golf_bets() -> list[dict]:
    return [coupon(600 + i, FAN, [202 + i]) for i in range(10)]


@pytest.mark.kafka
@pytest.mark.parametrize(
    "point",
    [
        "after-store",  # the batch is committed, its offsets are not, nothing refreshed
        "after-offsets",  # offsets committed too: no replay will come
        "refresh-written",  # inside the refresh's transaction, before its commit
        "after-refresh",  # the refresh committed, the loop did not go on
    ],
)
def test_a_consumer_killed_at_any_step_leaves_every_answer_fresh_after_a_restart(pipeline, point):
    _a_football_fan(pipeline)
    pipeline.produce("coupons", _ten_golf_bets())

    killed = pipeline.start_consumer(*RECORD_KINDS, env={"BETRECO_CRASH_AT": point})
    assert killed.wait() == -signal.SIGKILL, killed.log
    assert f"crash point '{point}'" in killed.log

    pipeline.consume(*RECORD_KINDS)
    assert not PendingRefresh.objects.exists()
    assert Recommendation.objects.get(pk=FAN).reason == "10 of your 11 selections are Golf."
    assert stored_answers() == from_scratch()


@pytest.mark.kafka
def test_a_rebuild_cut_short_by_a_crash_is_finished_by_the_next_consumer(pipeline):
    _a_football_fan(pipeline)
    Recommendation.objects.all().delete()  # answers lost: only a full rebuild brings them back
    requested = rebuild_request()
    env = {"RECOMMENDATION_REBUILD_LEASE_SECONDS": "1"}
    crash = {**env, "BETRECO_CRASH_AT": "rebuild-chunk"}

    killed = pipeline.start_consumer(*RECORD_KINDS, env=crash)
    assert killed.wait() == -signal.SIGKILL, killed.log
    requested.refresh_from_db()
    assert requested.finished_at is None

    pipeline.consume(*RECORD_KINDS, env=env)
    requested.refresh_from_db()
    assert requested.finished_at is not None
    assert requested.users_done == requested.users_total == 2
    assert stored_answers() == from_scratch()


@pytest.mark.django_db(transaction=True)
def test_a_write_whose_process_died_after_its_commit_is_settled_by_the_next_write(api_client):
    fan, football, golf = fresh_user(), upcoming_event("Football"), upcoming_event("Golf")
    ingest_services.store_batch(users=[fan], events=[football, golf])
    ingest_services.store_batch(coupons=[recent_coupon(fan["id"], [football["id"]])])
    refresh_pending()
    body = {
        "user_id": fan["id"],
        "stake": "5",
        "selections": [{"event_id": golf["id"], "odds": "2"}],
    }
    for _ in range(2):  # two Golf bets, posted by a server that dies after each commit
        died = _post_in_a_process_that_dies_after_the_commit("/coupons", body)
        assert died.returncode == -signal.SIGKILL, died.stderr
    assert PendingRefresh.objects.exists()
    assert Recommendation.objects.get(pk=fan["id"]).sport == "Football"  # stale, for now

    other = fresh_user()
    response = api_client.post(
        "/users", {**other, "registration_date": other["registration_date"].isoformat()}
    )
    assert response.status_code == 201
    tennis = upcoming_event("Tennis")
    payload = {
        **tennis,
        "begin_timestamp": tennis["begin_timestamp"].isoformat(),
        "end_timestamp": tennis["end_timestamp"].isoformat(),
    }
    assert api_client.post("/events", payload, format="json").status_code == 201
    wait_until(lambda: not PendingRefresh.objects.exists(), what="the server's drain")
    assert Recommendation.objects.get(pk=fan["id"]).sport == "Golf"
    assert stored_answers() == from_scratch()


def _post_in_a_process_that_dies_after_the_commit(path: str, body: dict):
    code = (
        "import json, os, django; django.setup()\n"
        "from django.test import Client\n"
        "Client().post(os.environ['POST_PATH'], data=os.environ['POST_BODY'],"
        " content_type='application/json')\n"
    )
    env = {
        "DJANGO_SETTINGS_MODULE": "betreco.settings",
        "DATABASE_URL": database_url(),
        "ALLOWED_HOSTS": "testserver",
        "BETRECO_CRASH_AT": "write-committed",
        "POST_PATH": path,
        "POST_BODY": json.dumps(body),
    }
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=PROJECT_DIR,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.django_db
def test_an_event_that_ends_leaves_the_lists_at_the_next_drain_without_any_write(monkeypatch):
    fan = fresh_user()
    soon, later = upcoming_event("Golf", hours=24), upcoming_event("Golf", hours=120)
    played = upcoming_event("Golf")
    ingest_services.store_batch(
        users=[fan],
        events=[soon, later, played],
        coupons=[recent_coupon(fan["id"], [played["id"]])],
    )
    refresh_pending()
    listed = Recommendation.objects.get(pk=fan["id"]).events
    assert set(listed.values_list("id", flat=True)) == {soon["id"], later["id"]}

    two_days_later = timezone.now() + timedelta(days=2)
    monkeypatch.setattr(timezone, "now", lambda: two_days_later)
    assert refresh_pending().users == 1
    assert list(listed.values_list("id", flat=True)) == [later["id"]]
    assert stored_answers() == from_scratch()


BIG = 2000  # users: with a chunk a user, their rebuild takes many seconds


def _many_bettors_whose_answers_were_lost() -> None:
    users = [fresh_user() for _ in range(BIG)]
    events = [upcoming_event(sport) for sport in ("Golf", "Tennis", "Football") for _ in range(4)]
    coupons = [recent_coupon(u["id"], [events[i % len(events)]["id"]]) for i, u in enumerate(users)]
    ingest_services.store_batch(users=users, events=events, coupons=coupons)
    refresh_pending()
    Recommendation.objects.all().delete()  # only a full rebuild brings them back


@pytest.mark.kafka
@pytest.mark.parametrize("taken_over", ["at-start", "while-consuming"])
def test_sigterm_during_a_long_rebuild_exits_0_within_30_s_and_the_next_consumer_finishes_it(
    pipeline, taken_over
):
    _many_bettors_whose_answers_were_lost()
    slow = {"RECOMMENDATION_REBUILD_CHUNK_SIZE": "1"}
    if taken_over == "at-start":  # the drain a consumer runs before it subscribes
        requested = rebuild_request()
        consumer = pipeline.start_consumer(*RECORD_KINDS, env=slow)
    else:  # a drain between batches, in the consumer's worker thread, partitions paused
        consumer = pipeline.start_consumer(*RECORD_KINDS, env=slow)
        wait_until(lambda: "consuming" in consumer.log, timeout=60, what="the consumer to start")
        requested = rebuild_request()

    def rebuilding():
        requested.refresh_from_db()
        return requested.users_done >= 20

    wait_until(rebuilding, timeout=60, what="the consumer to be well into the rebuild")
    consumer.signal(signal.SIGTERM)
    assert consumer.wait(timeout=30) == 0, consumer.log
    assert "rebuild stopped after" in consumer.log
    requested.refresh_from_db()
    assert requested.finished_at is None  # still owed...
    assert requested.users_done < requested.users_total == BIG
    assert requested.lease_until is None  # ...and free for the next drain at once

    pipeline.consume(*RECORD_KINDS)
    requested.refresh_from_db()
    assert requested.finished_at is not None
    assert requested.users_done == requested.users_total == BIG
    assert stored_answers() == from_scratch()
