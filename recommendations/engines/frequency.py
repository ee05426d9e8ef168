"""The default engine: open events of the sport a user bets on most (docs/recommendations.md).

- Favourite sport: most selections across the user's coupons; ties go to
  the sport bet most recently (coupon timestamp), then the sport's name A→Z.
  Sports compare case-insensitively (`Event.sport_key`, folded by
  `ingest.sports.sport_key`, so "FÚTBOL" is "fútbol"); the name shown is
  the spelling the user's selections of it sort first by (so "Football"
  over "football").
- Recommended: open events of that sport the user has not bet on, most
  popular first, then soonest start, then id; at most RECOMMENDATIONS_PER_USER.
  When the sport has fewer such events the answer is shorter: it is not
  padded with other sports, because "your sport" is the promise the reason
  makes.
- Cold start (no selections): the most popular open events of any sport,
  the same answer for every such user (shared: served on read, not stored).
"""

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime

from django.db.models import Count, Max, Min, Q

from ingest.models import Selection
from recommendations.engines.base import (
    Answer,
    Changes,
    RecommendationEngine,
    open_bets,
    top_unbet,
)
from recommendations.history import EVERY_BET, History
from recommendations.models import Recommendation
from recommendations.ranking import Ranking, first_difference

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


def sport_tallies(
    user_ids: Sequence[int], history: History = EVERY_BET
) -> dict[int, list[SportTally]]:
    """Per user, per sport: selections, last bet and spelling in `history`, aggregated in SQL."""
    rows = (
        history.selections()
        .filter(coupon__user_id__in=user_ids)
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

    def recommend(self, user_ids: Sequence[int], ranking: Ranking) -> Iterator[Answer]:
        tallies = sport_tallies(user_ids, self.history)
        bets = open_bets(user_ids, self.now, self.history)
        for user_id in user_ids:
            tally, bet = tallies.get(user_id, []), bets.get(user_id, set())
            yield self._answer(user_id, tally, bet, ranking)

    def _answer(
        self, user_id: int, tallies: list[SportTally], bets: set[int], ranking: Ranking
    ) -> Answer:
        if not tallies:  # no bets, so nothing to skip: everyone like this gets the same
            events = ranking.events(None, limit=self.per_user)[: self.per_user]
            return Answer(user_id=user_id, event_ids=events, reason=COLD_START_REASON, shared=True)
        favourite = min(tallies, key=lambda tally: tally.preference)
        total = sum(tally.selections for tally in tallies)
        return Answer(
            user_id=user_id,
            event_ids=top_unbet(ranking.events(favourite.sport_key), bets, self.per_user),
            reason=f"{favourite.selections} of your {total} selections are {favourite.spelling}.",
            sport=favourite.spelling,
            sport_key=favourite.sport_key,
            sport_selections=favourite.selections,
            total_selections=total,
        )

    def affected_users(self, changes: Changes, *, previous: Ranking, current: Ranking) -> set[int]:
        """The users whose stored answer can differ now (a small superset of them).

        - users whose own bets changed (their coupons, or new users);
        - users who bet on a written event: if its sport changed, their counts moved;
        - per sport: a stored list is the first N unbet events of the previous
          ranking. If the ranking now agrees with it up to the list's last
          event, the list is still right. So only lists that are short, or that
          end at or past the first position where the two rankings differ, can
          change.

        Only the sports `current` says changed are compared (every sport when
        it cannot say). Cold-start answers are shared, served from the
        ranking on read and never stored, so no change of the overall
        ranking rebuilds anyone.
        """
        affected = set(changes.users)
        if changes.events:
            affected |= set(
                Selection.objects.filter(event_id__in=changes.events).values_list(
                    "coupon__user_id", flat=True
                )
            )
        scopes = current.changed_sports
        if scopes is None:
            scopes = (previous.scopes() | current.scopes()) - {None}
        for scope in scopes:
            now_ranked = current.events(scope)
            differs_at = first_difference(previous.events(scope), now_ranked)
            if differs_at is not None:
                affected |= self._reaching(scope, now_ranked[:differs_at])
        return affected

    def _reaching(self, scope: str, unchanged: list[int]) -> set[int]:
        """Users of `scope` whose list is short or does not end within `unchanged`."""
        stored = Recommendation.objects.filter(sport_key=scope)
        if len(unchanged) <= MAX_AHEAD:
            stored = stored.filter(
                Q(event_count__lt=self.per_user)
                | Q(last_event__isnull=True)
                | ~Q(last_event_id__in=unchanged)
            )
        return set(stored.values_list("user_id", flat=True))
