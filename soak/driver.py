"""The soak's load: a bounded, seeded-random stream of users, events and coupons over HTTP.

Several client threads each play short scenarios against the producer role:

- a user updated v1, v2, v3 (each version sent once the previous one was
  acknowledged: the last acknowledged version must be what is stored);
- a bundle: a user, events and coupons on them, sometimes the coupons first
  (they park until their user and events arrive);
- a duplicate: an acknowledged record posted again;
- records without an id: the producer assigns one and returns it.

A request that does not answer 202 is not acknowledged; the records a
scenario depends on are retried until they are. Every answer is kept in the
`Ledger` (and a JSONL file) for the checks.
"""

import http.client
import json
import random
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from betreco.processes import HOST
from soak.reconcile import Receipt

EXPLICIT_ID_BASE = 7_000_000_000_000  # below 2**53, far from ids a lease would hand out first
SPORTS = ["Football", "football", "Tennis", "Basketball", "Fußball", "FUSSBALL", "Golf"]
LEAGUES = ["Super League", "Premier League", "Bundesliga", "Open", "Cup"]
COUNTRIES = ["GR", "DE", "GB", "IT", "FR"]
CURRENCIES = ["EUR", "GBP", "USD"]
RETRY_FOR_S = 120.0  # after the load stops, how long a scenario may still retry its records


@dataclass
class Attempt:
    """One record as sent in one request, and what the request answered."""

    kind: str
    record: dict
    status: int | None  # None: no answer (connection lost)
    record_id: int | None  # the id it was sent with, or the one the 202 assigned
    seq: int
    receipt: dict | None = None  # topic, partition and offset of a 202
    phase: str = "chaos"  # of the run: "chaos" (paced, under faults) or "full speed"


@dataclass
class Ledger:
    """Every attempt per record, every assigned id; a JSONL line per request in the run dir."""

    path: Path
    attempts: dict[tuple[str, int], list[Attempt]] = field(default_factory=dict)
    assigned: list[tuple[str, int]] = field(default_factory=list)
    statuses: Counter = field(default_factory=Counter)
    requests: int = 0
    records_sent: int = 0
    records_acked: int = 0
    acked_by_phase: Counter = field(default_factory=Counter)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self):
        self.file = self.path.open("a")

    def request(
        self,
        kind: str,
        records: list[dict],
        status: int | None,
        body,
        error: str,
        phase: str = "chaos",
    ):
        acked = status == 202
        ids = [r.get("id") for r in records]
        receipts = [None] * len(records)
        if acked:
            receipts = body if isinstance(body, list) else [body]
            ids = [receipt["id"] for receipt in receipts]
        with self.lock:
            self.requests += 1
            self.records_sent += len(records)
            self.statuses[status if status is not None else "no answer"] += 1
            if acked:
                self.records_acked += len(records)
                self.acked_by_phase[phase] += len(records)
            for record, record_id, receipt in zip(records, ids, receipts, strict=True):
                if record_id is None:
                    continue  # an id-less record not acknowledged: its id (if any) is unknown
                if acked and "id" not in record:
                    self.assigned.append((kind, record_id))
                history = self.attempts.setdefault((kind, record_id), [])
                history.append(
                    Attempt(kind, record, status, record_id, self.requests, receipt, phase)
                )
            line = {
                "t": time.time(),
                "phase": phase,
                "kind": kind,
                "ids": ids,
                "status": status,
                "body": body if acked else str(body)[:300],
                "error": error,
            }
            self.file.write(json.dumps(line) + "\n")

    def receipts(self, phase: str | None = None) -> list[Receipt]:
        """Every 202's receipt (of one phase, or all), for soak/reconcile.py."""
        with self.lock:
            return [
                Receipt(
                    kind, record_id, a.receipt["topic"], a.receipt["partition"], a.receipt["offset"]
                )
                for (kind, record_id), history in self.attempts.items()
                for a in history
                if a.status == 202 and a.receipt and (phase is None or a.phase == phase)
            ]

    def close(self) -> None:
        self.file.close()


class Pacer:
    """At most `rate` requests a second over all clients."""

    def __init__(self, rate: float):
        self.interval = 1.0 / rate
        self.next = time.monotonic()
        self.lock = threading.Lock()

    def wait(self) -> None:
        with self.lock:
            now = time.monotonic()
            self.next = max(self.next, now) + self.interval
            delay = self.next - self.interval - now
        if delay > 0:
            time.sleep(delay)


class Client:
    """POSTs over a keep-alive connection of its own; a lost connection is 'no answer'.

    `reconnect_every`: open a new connection after that many requests, so that
    long-lived clients spread over every worker of a gunicorn server.
    """

    def __init__(self, port: int, reconnect_every: int = 0):
        self.port = port
        self.conn: http.client.HTTPConnection | None = None
        self.reconnect_every = reconnect_every
        self.requests = 0

    def post(self, path: str, payload) -> tuple[int | None, object, str]:
        if self.conn is None:
            self.conn = http.client.HTTPConnection(HOST, self.port, timeout=30)
        try:
            self.conn.request(
                "POST", path, json.dumps(payload), {"Content-Type": "application/json"}
            )
            response = self.conn.getresponse()
            data = response.read()
        except (OSError, http.client.HTTPException) as error:
            self.conn.close()
            self.conn = None
            return None, None, repr(error)
        self.requests += 1
        if response.will_close or (
            self.reconnect_every and self.requests % self.reconnect_every == 0
        ):
            self.conn.close()
            self.conn = None
        try:
            return response.status, json.loads(data), ""
        except ValueError:
            return response.status, data[:300].decode(errors="replace"), ""


@dataclass
class Pool:
    """Acknowledged users (no more updates coming) and events, for later coupons to use.

    Each id is in its list once however often it was acknowledged (a duplicate
    post, a retry): `pick` then never returns one id twice, so a coupon made
    from its picks never selects an event twice (the producer refuses that).
    """

    users: list[int] = field(default_factory=list)
    events: list[int] = field(default_factory=list)
    finished: dict[tuple[str, int], dict] = field(default_factory=dict)  # for duplicates
    lock: threading.Lock = field(default_factory=threading.Lock)
    next_ids: Counter = field(default_factory=Counter)

    def new_id(self, kind: str) -> int:
        with self.lock:
            self.next_ids[kind] += 1
            return EXPLICIT_ID_BASE + self.next_ids[kind]

    def add(self, kind: str, record_id: int, record: dict) -> None:
        with self.lock:
            known = (kind, record_id) in self.finished
            if kind != "coupons" and not known:
                getattr(self, kind).append(record_id)
            self.finished[(kind, record_id)] = {**record, "id": record_id}

    def pick(self, rng: random.Random, kind: str, count: int) -> list[int]:
        """Up to `count` distinct ids of `kind`."""
        with self.lock:
            ids = getattr(self, kind)
            return rng.sample(ids, min(count, len(ids))) if ids else []

    def any_finished(self, rng: random.Random):
        with self.lock:
            if not self.finished:
                return None
            return rng.choice(list(self.finished.items()))


def user_record(version: int, record_id: int | None = None) -> dict:
    """A user whose fields say which version it is (birth_year 1960 + version)."""
    record = {
        "birth_year": 1960 + version,
        "country": COUNTRIES[version % len(COUNTRIES)],
        "currency": CURRENCIES[version % len(CURRENCIES)],
        "gender": "MFX"[version % 3],
    }
    return record if record_id is None else {"id": record_id, **record}


def event_record(rng: random.Random, record_id: int | None = None) -> dict:
    begin = datetime(2031, 1, 1, tzinfo=UTC) + timedelta(
        minutes=rng.randrange(4 * 365 * 24 * 4) * 15
    )
    home, away = rng.sample(range(60), 2)
    record = {
        "begin_timestamp": begin.isoformat().replace("+00:00", "Z"),
        "end_timestamp": (begin + timedelta(hours=2)).isoformat().replace("+00:00", "Z"),
        "country": rng.choice(COUNTRIES),
        "league": rng.choice(LEAGUES),
        "sport": rng.choice(SPORTS),
        "participants": [f"Team {home}", f"Team {away}"],
    }
    return record if record_id is None else {"id": record_id, **record}


def coupon_record(
    rng: random.Random, user_id: int, event_ids: list[int], record_id: int | None = None
) -> dict:
    placed = datetime(2030, 1, 1, tzinfo=UTC) + timedelta(seconds=rng.randrange(10**7))
    record = {
        "user_id": user_id,
        "stake": f"{rng.randrange(100, 10000) / 100:.2f}",
        "timestamp": placed.isoformat().replace("+00:00", "Z"),
        "selections": [
            {"event_id": e, "odds": f"{rng.randrange(101, 500) / 100:.2f}"} for e in event_ids
        ],
    }
    return record if record_id is None else {"id": record_id, **record}


class Driver:
    """Client threads playing scenarios until `load_stop` is set; `join()` waits for them."""

    def __init__(self, *, port: int, seed: int, clients: int, rate: float, ledger: Ledger):
        self.port, self.seed, self.ledger = port, seed, ledger
        self.pacer = Pacer(rate)
        self.pool = Pool()
        self.load_stop = threading.Event()
        self.retry_deadline = float("inf")
        self.threads = [
            threading.Thread(target=self._client, args=(n,), name=f"client-{n}", daemon=True)
            for n in range(clients)
        ]
        self.errors: list[str] = []
        self.unacked_dependencies: list[tuple[str, int]] = []

    def start(self) -> None:
        for thread in self.threads:
            thread.start()

    def stop(self) -> None:
        self.load_stop.set()
        self.retry_deadline = time.monotonic() + RETRY_FOR_S
        for thread in self.threads:
            thread.join(RETRY_FOR_S + 60)

    def _client(self, number: int) -> None:
        rng = random.Random(self.seed * 1000 + number)
        client = Client(self.port)
        scenarios = [
            (self._updates, 2),
            (self._bundle, 4),
            (self._duplicate, 1.5),
            (self._idless, 2.5),
        ]
        try:
            while not self.load_stop.is_set():
                (scenario,) = rng.choices(
                    [s for s, _ in scenarios], weights=[w for _, w in scenarios]
                )
                scenario(rng, client)
        except Exception as error:  # reported as a harness failure, not swallowed
            self.errors.append(f"client {number}: {error!r}")
            raise

    def _send(self, client: Client, kind: str, records: list[dict], *, single: bool) -> bool:
        """One request; True when it was acknowledged (202)."""
        self.pacer.wait()
        payload = records[0] if single else records
        status, body, error = client.post(f"/{kind}", payload)
        self.ledger.request(kind, records, status, body, error)
        if status == 202:
            receipts = body if isinstance(body, list) else [body]
            for record, receipt in zip(records, receipts, strict=True):
                if kind != "users" or "id" not in record:  # explicit users: when finished
                    self.pool.add(kind, receipt["id"], record)
            return True
        if status is not None and status not in (503, 500, 502):
            self.errors.append(f"POST /{kind}: unexpected {status}: {str(body)[:300]}")
        return False

    def _until_acked(self, client: Client, kind: str, records: list[dict], rng) -> bool:
        """Send until acknowledged (backing off), or until the retry deadline after the load."""
        single = len(records) == 1 and rng.random() < 0.5
        pause = 0.2
        while not self._send(client, kind, records, single=single):
            if time.monotonic() > self.retry_deadline:
                self.unacked_dependencies += [(kind, r.get("id")) for r in records]
                return False
            time.sleep(pause)
            pause = min(pause * 2, 3.0)
        return True

    def _updates(self, rng: random.Random, client: Client) -> None:
        user_id = self.pool.new_id("users")
        record = None
        for version in range(1, rng.randint(2, 5) + 1):
            record = user_record(version, user_id)
            if not self._until_acked(client, "users", [record], rng):
                return
        self.pool.add("users", user_id, record)

    def _bundle(self, rng: random.Random, client: Client) -> None:
        user_id = self.pool.new_id("users")
        user = user_record(1, user_id)
        events = [event_record(rng, self.pool.new_id("events")) for _ in range(rng.randint(1, 4))]
        event_ids = [e["id"] for e in events]
        coupons = []
        for _ in range(rng.randint(1, 3)):
            picked = rng.sample(event_ids, rng.randint(1, len(event_ids)))
            picked += [e for e in self.pool.pick(rng, "events", 1) if e not in picked]
            owner = (
                user_id if rng.random() < 0.7 else (self.pool.pick(rng, "users", 1) or [user_id])[0]
            )
            coupons.append(coupon_record(rng, owner, picked, self.pool.new_id("coupons")))
        steps = [("users", [user]), ("events", events), ("coupons", coupons)]
        if rng.random() < 0.3:
            steps.reverse()  # coupons first: they park until their user and events arrive
        for kind, records in steps:
            self._until_acked(client, kind, records, rng)
        self.pool.add("users", user_id, user)

    def _duplicate(self, rng: random.Random, client: Client) -> None:
        found = self.pool.any_finished(rng)
        if found is None:
            return
        (kind, _), record = found
        self._send(client, kind, [record], single=rng.random() < 0.5)

    def _idless(self, rng: random.Random, client: Client) -> None:
        users = [user_record(rng.randint(1, 9)) for _ in range(rng.randint(1, 3))]
        self._send(client, "users", users, single=len(users) == 1)
        events = [event_record(rng) for _ in range(rng.randint(1, 2))]
        self._send(client, "events", events, single=len(events) == 1)
        owners = self.pool.pick(rng, "users", 2)
        targets = self.pool.pick(rng, "events", 2)
        if owners and targets:
            coupons = [coupon_record(rng, owner, targets) for owner in owners]
            self._send(client, "coupons", coupons, single=len(coupons) == 1)
