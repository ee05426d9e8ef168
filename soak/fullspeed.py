"""The soak's full-speed phase: arrays of records posted as fast as the producer answers.

Sender threads, each on a keep-alive connection of its own (opened again every
few requests, so the connections spread over every gunicorn worker of the
producer, each a Kafka producer connection of its own), post waves without a
pacer: an array of new users, an array of new events, then an array of
coupons on them, one per user of the wave (every user a bettor, so each has a
stored answer for check 4), each on one to four distinct events of the wave.
An array holds 100 to 500 records. A wave's coupons are sent once its users
and events were acknowledged; an array not acknowledged (a lost connection, a
503) is sent again until it is, or until a while after the phase. `limit`
(records/s) caps the rate where the volume must stay small (the suite's short
soak). Every answer goes to the run's `Ledger` (phase "full speed") for the
checks and the reconciliation.
"""

import random
import threading
import time
from collections import Counter

from soak.driver import Client, Ledger, Pool, coupon_record, event_record, user_record

PHASE = "full speed"
BATCH = (100, 500)  # records per POST
RECONNECT_EVERY = 8  # requests on one connection before a new one
RETRY_FOR_S = 30.0  # after the phase, how long an unacknowledged array is still retried
WINDOW_S = 5  # the sustained rate is also reported as the slowest window of this many seconds


class FullSpeed:
    """`senders` threads posting waves until `seconds` have passed; `run` returns figures."""

    def __init__(
        self,
        *,
        port: int,
        seed: int,
        senders: int,
        ledger: Ledger,
        pool: Pool,
        limit: float = 0.0,
        batch=BATCH,
    ):
        self.port, self.seed, self.senders, self.batch = port, seed, senders, batch
        self.ledger, self.pool, self.limit = ledger, pool, limit
        self.budget = 0  # records let through so far, with a limit
        self.errors: list[str] = []
        self.acked_at: Counter = Counter()  # second of the phase -> records acknowledged
        self.lock = threading.Lock()
        self.started = 0.0
        self.deadline = 0.0

    def run(self, seconds: float) -> dict:
        self.started = time.monotonic()
        self.deadline = self.started + seconds
        self.budget = 0
        threads = [
            threading.Thread(target=self._sender, args=(n,), name=f"fast-{n}", daemon=True)
            for n in range(self.senders)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(seconds + RETRY_FOR_S + 120)
        elapsed = time.monotonic() - self.started
        acked = sum(self.acked_at.values())
        whole = [self.acked_at[s] for s in range(int(seconds))]
        windows = [
            sum(whole[i : i + WINDOW_S]) / WINDOW_S for i in range(len(whole) - WINDOW_S + 1)
        ]
        return {
            "seconds": round(elapsed, 1),
            "acked": acked,
            "rate": acked / elapsed,
            "slowest window": min(windows) if windows else 0.0,
        }

    def _sender(self, number: int) -> None:
        rng = random.Random(self.seed * 7919 + number)
        client = Client(self.port, reconnect_every=RECONNECT_EVERY)
        try:
            while time.monotonic() < self.deadline:
                self._wave(rng, client)
        except Exception as error:  # reported as a harness failure, not swallowed
            self.errors.append(f"full-speed sender {number}: {error!r}")
            raise
        finally:
            if client.conn is not None:
                client.conn.close()

    def _wave(self, rng: random.Random, client: Client) -> None:
        users = [
            user_record(rng.randint(1, 9), self.pool.new_id("users"))
            for _ in range(rng.randint(*self.batch))
        ]
        events = [
            event_record(rng, self.pool.new_id("events")) for _ in range(rng.randint(*self.batch))
        ]
        if not (self._post(client, "users", users) and self._post(client, "events", events)):
            return
        event_ids = [e["id"] for e in events]
        coupons = [
            coupon_record(
                rng,
                user["id"],
                rng.sample(event_ids, rng.randint(1, 4)),
                self.pool.new_id("coupons"),
            )
            for user in users
        ]
        self._post(client, "coupons", coupons)

    def _pace(self, records: int) -> None:
        """With a limit: wait until sending `records` more keeps the phase under it."""
        if not self.limit:
            return
        with self.lock:
            self.budget += records
            due = self.started + self.budget / self.limit
        if (delay := due - time.monotonic()) > 0:
            time.sleep(delay)

    def _post(self, client: Client, kind: str, records: list[dict]) -> bool:
        """Send until acknowledged (True), refused (an error), or past the retry window."""
        pause = 0.2
        self._pace(len(records))
        while True:
            status, body, error = client.post(f"/{kind}", records)
            self.ledger.request(kind, records, status, body, error, phase=PHASE)
            if status == 202:
                second = int(time.monotonic() - self.started)
                with self.lock:
                    self.acked_at[second] += len(records)
                return True
            if status is not None and status not in (500, 502, 503):
                self.errors.append(f"POST /{kind}: unexpected {status}: {str(body)[:300]}")
                return False
            if time.monotonic() > self.deadline + RETRY_FOR_S:
                self.errors.append(f"POST /{kind} of {len(records)} never acknowledged: {error}")
                return False
            time.sleep(pause)
            pause = min(pause * 2, 3.0)
