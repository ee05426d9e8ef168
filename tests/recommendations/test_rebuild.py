"""A full rebuild has one owner at a time, and stops between chunks when its runner asks it to."""

import logging
from datetime import timedelta

import pytest
from django.utils import timezone

from betreco.stopping import stoppable
from ingest import services as ingest_services
from recommendations.lock import LeaseLost
from recommendations.models import RebuildRequest
from recommendations.outbox import refresh_pending
from recommendations.rebuild import Rebuild, claim, rebuild_request, run_requested_rebuilds
from tests.recommendations.conftest import from_scratch, stored_answers
from tests.records import fresh_user, recent_coupon, upcoming_event

pytestmark = pytest.mark.django_db


@pytest.fixture
def tennis_fans(settings):
    """Nine users who bet on the first of six Tennis events, answers fresh; chunks of 3 users."""
    settings.RECOMMENDATION_REBUILD_CHUNK_SIZE = 3
    users = [fresh_user() for _ in range(9)]
    events = [upcoming_event("Tennis", begins_in=timedelta(hours=h + 1)) for h in range(6)]
    ingest_services.store_batch(
        users=users,
        events=events,
        coupons=[recent_coupon(u["id"], [events[0]["id"]]) for u in users],
    )
    refresh_pending()
    return users, events


def _the_last_event_becomes_the_most_popular(users, events) -> int:
    """Two bets on the last event, drained at once; returns its id."""
    last = events[-1]["id"]
    ingest_services.store_batch(coupons=[recent_coupon(u["id"], [last]) for u in users[-2:]])
    refresh_pending(rebuilds=False)
    return last


def _lease_runs_out() -> None:
    """The owner stalled (a pause, a long database wait) for longer than its lease."""
    RebuildRequest.objects.update(lease_until=timezone.now() - timedelta(seconds=1))


def test_a_rebuild_that_stalled_past_its_lease_writes_nothing_more_once_taken_over(tennis_fans):
    users, events = tennis_fans
    request = rebuild_request()
    first = Rebuild(claim())
    first_chunks = first.chunks()
    next(first_chunks)  # the snapshot and the first 3 users
    _lease_runs_out()
    second = Rebuild(claim())  # another process takes the rebuild over
    assert second.lease.owner != first.lease.owner
    second_chunks = second.chunks()
    next(second_chunks)
    last = _the_last_event_becomes_the_most_popular(users, events)
    fresh = stored_answers()
    assert fresh == from_scratch()
    assert fresh[users[4]["id"]][-1][0] == last
    request.refresh_from_db()
    held_until = request.lease_until

    # The first process wakes: its next chunk would store answers from the ranking it
    # started with (the last event not yet popular), its finish would end the other's rebuild.
    with pytest.raises(LeaseLost):
        next(first_chunks)
    with pytest.raises(LeaseLost):
        first.finish()
    assert stored_answers() == fresh
    request.refresh_from_db()
    assert request.owner == second.lease.owner
    assert request.lease_until == held_until  # not renewed by the first
    assert (request.users_done, request.finished_at) == (3, None)

    for _ in second_chunks:
        pass
    second.finish()
    request.refresh_from_db()
    assert request.finished_at is not None
    assert request.users_done == request.users_total == 9
    assert stored_answers() == from_scratch()


def test_a_drain_whose_rebuild_was_taken_over_logs_it_and_goes_on(tennis_fans, caplog):
    request = rebuild_request()
    other = []

    def stalls_after_the_first_chunk(count):
        if not other:
            _lease_runs_out()
            other.append(Rebuild(claim()))
            next(other[0].chunks())

    with caplog.at_level(logging.WARNING):
        assert run_requested_rebuilds(on_progress=stalls_after_the_first_chunk) == []
    assert "was taken over by another process after its lease ran out" in caplog.text
    request.refresh_from_db()
    assert request.finished_at is None
    assert request.owner == other[0].lease.owner


def test_a_rebuild_asked_to_stop_stops_between_chunks_and_the_next_drain_finishes_it(
    tennis_fans,
):
    users, events = tennis_fans
    request = rebuild_request()
    chunks_done = []
    with stoppable(lambda: len(chunks_done) >= 1):
        assert run_requested_rebuilds(on_progress=chunks_done.append) == []
    assert chunks_done == [3]
    request.refresh_from_db()
    assert request.finished_at is None  # still owed
    assert request.users_done == 3
    assert request.lease_until is None  # released: nobody waits for it to run out

    _the_last_event_becomes_the_most_popular(users, events)
    (result,) = run_requested_rebuilds()
    assert result.users == 9
    request.refresh_from_db()
    assert request.finished_at is not None
    assert stored_answers() == from_scratch()
