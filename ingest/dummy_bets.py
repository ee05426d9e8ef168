"""Made-up coupons with taste, spread over time, for `manage.py generate_dummy`.

Each user has a lasting preference over sports and, within each sport,
over leagues: a Dirichlet draw per user, of concentration 1 / `taste`
(`--taste`). The higher the taste, the more a user sticks to a few
leagues; taste 1 gives varied but clear preferences; taste 0 means no
preference at all (every open event equally likely). Coupons are placed
at times spread evenly over the last 30 days, each on events starting
within the week after it, so history has a before and an after: a time
split (`evaluate_recommendations`) finds the same tastes on both sides.
"""

import bisect
import random
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

HISTORY = timedelta(days=30)  # coupons are placed within the last 30 days
LOOKAHEAD = timedelta(days=7)  # on events starting within a week of the coupon
FOREVER = datetime.max.replace(tzinfo=UTC)

Pair = tuple[str, str]  # sport, league
Weights = dict[Pair, float] | None  # a user's taste; None: no preference


def begin(event: dict) -> datetime:
    """An event record's start (the seed's naive UTC text)."""
    return datetime.fromisoformat(event["begin_timestamp"]).replace(tzinfo=UTC)


def dirichlet(rng: random.Random, count: int, concentration: float) -> list[float]:
    """A draw of `count` weights summing to 1; a lower concentration is more lopsided."""
    draws = [rng.gammavariate(concentration, 1.0) for _ in range(count)]
    total = sum(draws)
    if total == 0:  # every draw underflowed (a tiny concentration): all weight on one
        draws[rng.randrange(count)] = total = 1.0
    return [draw / total for draw in draws]


class Catalogue:
    """The events of each (sport, league), sorted by start, to draw selections from."""

    def __init__(self, events: Iterable[dict]):
        by_pair: dict[Pair, list[tuple[datetime, dict]]] = {}
        for event in events:
            by_pair.setdefault((event["sport"], event["league"]), []).append((begin(event), event))
        self.pairs = sorted(by_pair)
        self.sports = sorted({sport for sport, _ in self.pairs})
        self._begins: dict[Pair, list[datetime]] = {}
        self._events: dict[Pair, list[dict]] = {}
        for pair in self.pairs:
            rows = sorted(by_pair[pair], key=lambda row: row[0])
            self._begins[pair] = [begin for begin, _ in rows]
            self._events[pair] = [event for _, event in rows]

    def taste(self, rng: random.Random, taste: float) -> Weights:
        """One user's weight for each (sport, league); None (no preference) for taste 0."""
        if taste <= 0 or not self.pairs:
            return None
        sports = dict(zip(self.sports, dirichlet(rng, len(self.sports), 1 / taste), strict=True))
        weights = {}
        for sport in self.sports:
            leagues = [pair for pair in self.pairs if pair[0] == sport]
            for pair, weight in zip(leagues, dirichlet(rng, len(leagues), 1 / taste), strict=True):
                weights[pair] = sports[sport] * weight
        return weights

    def draw(
        self, rng: random.Random, weights: Weights, after: datetime, until: datetime
    ) -> dict | None:
        """An event starting in (after, until], by the user's weights; None if there is none."""
        spans = []
        for pair in self.pairs:
            begins = self._begins[pair]
            low, high = bisect.bisect_right(begins, after), bisect.bisect_right(begins, until)
            if high > low:
                spans.append((pair, low, high))
        if not spans:
            return None
        # No preference: each span weighs its number of events, so every event is as likely.
        chances = [high - low if weights is None else weights[pair] for pair, low, high in spans]
        if not any(chances):
            chances = [high - low for _, low, high in spans]
        pair, low, high = rng.choices(spans, weights=chances)[0]
        return self._events[pair][rng.randrange(low, high)]


def coupon_events(
    rng: random.Random,
    catalogue: Catalogue,
    weights: Weights,
    placed: datetime,
    count: int,
) -> tuple[datetime, list[dict]]:
    """Up to `count` distinct events for a coupon placed at `placed`, and when it was placed.

    Events starting within a week of it, else any later; when every event
    started before it (a tiny catalogue), the coupon moves to before one.
    """
    for until in (placed + LOOKAHEAD, FOREVER):
        first = catalogue.draw(rng, weights, placed, until)
        if first is not None:
            break
    else:
        until = FOREVER
        first = catalogue.draw(rng, weights, datetime.min.replace(tzinfo=UTC), until)
        placed = begin(first) - timedelta(minutes=rng.randint(1, 3 * 24 * 60))
    picked = {first["event_id"]: first}
    for _ in range(count - 1):
        event = catalogue.draw(rng, weights, placed, until)
        picked.setdefault(event["event_id"], event)
    return placed, list(picked.values())


def generate_coupons(
    rng: random.Random,
    ids: list[int],
    users: list[dict],
    events: list[dict],
    now: datetime,
    *,
    taste: float,
    stamp,
) -> list[dict]:
    """Coupons of known users on known events over the last 30 days, by each user's taste."""
    catalogue = Catalogue(events)
    tastes = {user["user_id"]: catalogue.taste(rng, taste) for user in users}
    coupons = []
    for coupon_id in ids:
        user = rng.choice(users)
        placed = now - timedelta(seconds=rng.uniform(60, HISTORY.total_seconds()))
        size = rng.choices([1, 2, 3, 4], [40, 30, 20, 10])[0]
        placed, picked = coupon_events(rng, catalogue, tastes[user["user_id"]], placed, size)
        coupons.append(
            {
                "coupon_id": coupon_id,
                "selections": [
                    {"event_id": e["event_id"], "odds": round(rng.uniform(1.05, 6.0), 2)}
                    for e in picked
                ],
                "stake": round(rng.choice([2, 5, 10, 20, 50, 100]) * rng.uniform(0.5, 3), 2),
                "timestamp": stamp(placed),
                "user_id": user["user_id"],
            }
        )
    return coupons
