"""The soak's load generator sends only records it means to be valid (soak/driver.py).

A 400 from the producer fails the soak's check 0, so a generator that builds an
invalid record by accident makes the soak flaky (a coupon selecting one event
twice did, after an event acknowledged twice entered the pool twice).
"""

import random

from ingest.validation import validate_record
from soak.driver import Driver, Ledger, Pool


class ValidatingProducer:
    """Stands in for the producer's HTTP endpoint: validates every record as it does
    (raising on one it would answer 400) and acknowledges it with a receipt."""

    def __init__(self):
        self.offsets = 0
        self.assigned = 10**6

    def post(self, path: str, payload):
        kind = path.strip("/")
        receipts = []
        for record in payload if isinstance(payload, list) else [payload]:
            if "id" not in record:
                self.assigned += 1
                record = {**record, "id": self.assigned}
            validate_record(kind, record)
            self.offsets += 1
            receipts.append(
                {"id": record["id"], "topic": kind, "partition": 0, "offset": self.offsets}
            )
        return 202, receipts if isinstance(payload, list) else receipts[0], ""


def test_an_event_acknowledged_twice_is_offered_to_coupons_once():
    pool = Pool()
    event = {"sport": "Golf"}
    pool.add("events", 1, event)
    pool.add("events", 2, event)
    pool.add("events", 1, event)  # posted again (a duplicate, or a retry): acknowledged again

    assert pool.events == [1, 2]
    for seed in range(50):
        picked = pool.pick(random.Random(seed), "events", 2)
        assert sorted(picked) == [1, 2]


def test_every_scenario_sends_only_records_the_producer_accepts(tmp_path):
    ledger = Ledger(tmp_path / "acks.jsonl")
    driver = Driver(port=0, seed=3, clients=1, rate=10**6, ledger=ledger)
    producer = ValidatingProducer()
    rng = random.Random(3)
    scenarios = [driver._updates, driver._bundle, driver._duplicate, driver._idless]
    try:
        for scenario in scenarios * 3:
            scenario(rng, producer)
        # Then mostly duplicates while the pool is small, each acknowledging a known record
        # again, and the id-less coupons that pick their events from the pool.
        for _ in range(300):
            rng.choice(scenarios + [driver._duplicate, driver._idless] * 3)(rng, producer)
    finally:
        ledger.close()

    assert driver.errors == []
    assert set(ledger.statuses) == {202}
