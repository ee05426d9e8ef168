"""Which stored bets the engines read: all of them, or those placed before a time.

Live answers read every stored bet (`History()`). The offline evaluation
(docs/recommendations.md, "Offline evaluation") asks the same engines for
the answers they would have given at a past time T: `History(before=T)`
shows them only the coupons placed before T, so a bet placed after T
shapes no answer at T. It is a filter on the same queries, not a copy of
the engines' rules.
"""

from dataclasses import dataclass
from datetime import datetime

from django.db.models import Count, Q, QuerySet

from ingest.models import Selection


@dataclass(frozen=True)
class History:
    """The stored bets an engine sees; `before` None means every one of them."""

    before: datetime | None = None

    def _placed(self, path: str = "") -> Q | None:
        return None if self.before is None else Q(**{f"{path}coupon__timestamp__lt": self.before})

    def selections(self) -> QuerySet[Selection]:
        """The selections of the coupons this history holds."""
        placed = self._placed()
        return Selection.objects.all() if placed is None else Selection.objects.filter(placed)

    def popularity(self) -> Count:
        """An events annotation: their selections among those this history holds."""
        return Count("selections", filter=self._placed("selections__"))


#: What live answers are made from: every stored bet.
EVERY_BET = History()
