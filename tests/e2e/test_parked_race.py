"""Parked coupons racing their newer versions through real consumers (see ingest/parking.py).

As the issue found it on PostgreSQL: coupons (v1) parked for events not
stored yet; then the events and, at the same moment, v2 of each coupon
(needing only an event stored already) are produced, one consumer process
per topic. The events consumer releases what the coupons consumer is
replacing, and the newest acknowledged version must win every time.
"""

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from ingest.models import Coupon, DeadLetter, Event, ParkedCoupon, Selection, User
from tests.kafka_pipeline import wait_until
from tests.records import coupon, event, user

pytestmark = [pytest.mark.kafka, pytest.mark.django_db(transaction=True)]

COUPONS = 300
FIRST_COUPON, FIRST_EVENT, STORED_EVENT = 5_000, 10_000, 1


def test_newer_versions_produced_with_the_events_the_older_ones_wait_for_win(pipeline):
    consumers = [
        pipeline.start_consumer(kind, "--group", f"{pipeline.prefix}{kind}", "--batch-size", "20")
        for kind in ("users", "events", "coupons")
    ]
    pipeline.produce("users", [user(1)])
    pipeline.produce("events", [event(STORED_EVENT)])
    wait_until(
        lambda: User.objects.exists() and Event.objects.exists(), what="the user and first event"
    )
    coupon_ids = range(FIRST_COUPON, FIRST_COUPON + COUPONS)
    new_events = {pk: FIRST_EVENT + pk for pk in coupon_ids}
    pipeline.produce("coupons", [coupon(pk, 1, [new_events[pk]]) for pk in coupon_ids])
    wait_until(lambda: ParkedCoupon.objects.count() == COUPONS, what="every coupon's v1 to park")

    both_ready = threading.Barrier(2)

    def produce_at_once(kind, records):
        both_ready.wait()
        return pipeline.produce(kind, records)

    with ThreadPoolExecutor(2) as pool:
        produced = [
            pool.submit(produce_at_once, "events", [event(e) for e in new_events.values()]),
            pool.submit(
                produce_at_once,
                "coupons",
                [coupon(pk, 1, [STORED_EVENT], stake="20.00") for pk in coupon_ids],
            ),
        ]
        for future in produced:
            future.result()

    def outcome():
        return {
            "events stored": Event.objects.count(),
            "coupons at v2": Coupon.objects.filter(stake=20).count(),
            "coupons at v1": Coupon.objects.filter(stake=10).count(),
            "parked": ParkedCoupon.objects.count(),
        }

    # Final once reached: every event stored means every release it brought is committed.
    settled = {
        "events stored": COUPONS + 1,
        "coupons at v2": COUPONS,
        "coupons at v1": 0,
        "parked": 0,
    }
    try:
        wait_until(lambda: outcome() == settled, what="every event and every coupon's v2")
    except pytest.fail.Exception:
        assert outcome() == settled  # says which figures are off
    selections = set(Selection.objects.values_list("coupon_id", "event_id"))
    assert selections == {(pk, STORED_EVENT) for pk in coupon_ids}  # v2's, and only those
    assert not DeadLetter.objects.exists()
    for consumer in consumers:
        assert "deadlock" not in consumer.log
