"""The default engine: recommend open events of the sport a user bets on most (SPEC §7).

- Favourite sport: most selections across the user's coupons; ties go to
  the sport bet most recently (coupon timestamp), then the sport's name A→Z.
  Sports compare case-insensitively (`Event.sport_key`); the name shown is
  the spelling the user's selections of it sort first by (so "Football"
  over "football").
- Recommended: open events of that sport the user has not bet on, most
  popular first, then soonest start, then id; at most RECOMMENDATIONS_PER_USER.
  When the sport has fewer such events the answer is shorter: it is not
  padded with other sports, because "your sport" is the promise the reason
  makes.
- Cold start (no selections): the most popular open events of any sport.
"""

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime

from django.db.models import Count, Max, Min, Q

from ingest.models import Event, Selection
from recommendations.engines.base import (
    Answer,
    Changes,
    RecommendationEngine,
    open_bets,
    top_unbet,
)
from recommendations.models import Recommendation, RecommendedEvent

# Above this many ids, skip the narrowing (an IN list that long is slower
# than rebuilding, and SQLite caps query parameters at 32,766).
MAX_AHEAD = 20_000
COLD_START_REASON = "No bets yet: the most popular open events."


@dataclass(frozen=True)
class SportTally:
    sport_key: str
    spelling: str
    selections: int
    last_bet: datetime

    @property
    def preference(self):
        """Sorts the favourite first: most selections, most recent bet, name A→Z."""
        return (-self.selections, -self.last_bet.timestamp(), self.sport_key)


def sport_tallies(user_ids: Sequence[int]) -> dict[int, list[SportTally]]:
    """Per user, per sport: selections, last bet and spelling, aggregated in SQL."""
    rows = (
        Selection.objects.filter(coupon__user_id__in=user_ids)
        .values("coupon__user_id", "event__sport_key")
        .annotate(n=Count("id"), last_bet=Max("coupon__timestamp"), spelling=Min("event__sport"))
        .order_by()
        .values_list("coupon__user_id", "event__sport_key", "spelling", "n", "last_bet")
    )
    tallies: dict[int, list[SportTally]] = {}
    for user_id, sport_key, spelling, n, last_bet in rows:
        tallies.setdefault(user_id, []).append(SportTally(sport_key, spelling, n, last_bet))
    return tallies


class FrequencyEngine(RecommendationEngine):
    name = "frequency"

    def recommend(self, user_ids: Sequence[int]) -> Iterator[Answer]:
        tallies = sport_tallies(user_ids)
        bets = open_bets(user_ids, self.now)
        for user_id in user_ids:
            yield self._answer(user_id, tallies.get(user_id, []), bets.get(user_id, set()))

    def _answer(self, user_id: int, tallies: list[SportTally], bets: set[int]) -> Answer:
        if not tallies:
            events = top_unbet(self.ranking.events(None), bets, self.per_user)
            return Answer(user_id=user_id, event_ids=events, reason=COLD_START_REASON)
        favourite = min(tallies, key=lambda tally: tally.preference)
        total = sum(tally.selections for tally in tallies)
        return Answer(
            user_id=user_id,
            event_ids=top_unbet(self.ranking.events(favourite.sport_key), bets, self.per_user),
            reason=f"{favourite.selections} of your {total} selections are {favourite.spelling}.",
            sport=favourite.spelling,
            sport_key=favourite.sport_key,
            sport_selections=favourite.selections,
            total_selections=total,
        )

    def affected_users(self, changes: Changes) -> set[int]:
        """Exactly the users whose stored answer can differ after `changes` (a small superset).

        - users whose own bets changed;
        - users who bet on a written event: if its sport changed, their counts moved;
        - users listing a written or re-counted event: its rank, sport or end changed;
        - users whose list could now admit such an event (open, of their favourite
          sport, or any sport for cold start): their list is short, or its last
          event ranks below the event. A list holding none of the changed events
          is a prefix of the ranking that nothing changed in front of, so no one
          else's answer moves.
        """
        affected = set(changes.users)
        touched = changes.events | changes.popular
        if not touched:
            return affected
        affected |= set(
            Selection.objects.filter(event_id__in=changes.events).values_list(
                "coupon__user_id", flat=True
            )
        )
        affected |= set(
            RecommendedEvent.objects.filter(event_id__in=touched).values_list(
                "recommendation_id", flat=True
            )
        )
        open_touched = Event.objects.filter(id__in=touched, end_timestamp__gt=self.now)
        return affected | self._admitting_users(list(open_touched.values_list("id", "sport_key")))

    def _admitting_users(self, events: list[tuple[int, str]]) -> set[int]:
        """Users whose list is short or ends below the best-ranked of `events`."""
        best: dict[str | None, int] = {}
        for event_id, sport_key in events:
            for scope in (sport_key, None):
                position = self.ranking.position(scope, event_id)
                if position is not None:
                    best[scope] = min(best.get(scope, position), position)
        users: set[int] = set()
        for scope, position in best.items():
            ahead = self.ranking.events(scope)[:position]
            stored = Recommendation.objects.filter(sport_key=scope or "")
            if len(ahead) <= MAX_AHEAD:
                stored = stored.filter(
                    Q(event_count__lt=self.per_user)
                    | Q(last_event__isnull=True)
                    | ~Q(last_event_id__in=ahead)
                )
            users |= set(stored.values_list("user_id", flat=True))
        return users
