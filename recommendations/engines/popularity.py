"""A second engine: the most popular open events of any sport the user has not bet on.

It shows that an engine is a class and a setting
(`RECOMMENDATION_ENGINE=recommendations.engines.popularity.PopularityEngine`):
nothing that calls engines changes. Any new selection can reorder everyone's
list, so it keeps the base class's "everyone may be affected".
"""

from collections.abc import Iterator, Sequence

from recommendations.engines.base import Answer, RecommendationEngine, open_bets, top_unbet
from recommendations.ranking import Ranking

REASON = "The most popular open events you have not bet on yet."


class PopularityEngine(RecommendationEngine):
    name = "popularity"

    def recommend(self, user_ids: Sequence[int], ranking: Ranking) -> Iterator[Answer]:
        bets = open_bets(user_ids, self.now, self.history)
        ranked = ranking.events(None)
        for user_id in user_ids:
            events = top_unbet(ranked, bets.get(user_id, set()), self.per_user)
            yield Answer(user_id=user_id, event_ids=events, reason=REASON)
