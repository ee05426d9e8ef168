"""The engines an evaluation compares: every engine class of the project, and a random baseline.

The project's engines are found, not listed: every concrete
`RecommendationEngine` subclass in a module of `recommendations/engines/`,
and the class `RECOMMENDATION_ENGINE` names if it lives elsewhere. Each
is known by its `name`.
"""

import importlib
import inspect
import pkgutil
import random
from collections.abc import Iterable, Iterator, Sequence

from django.conf import settings
from django.utils.module_loading import import_string

from recommendations import engines
from recommendations.engines.base import Answer, RecommendationEngine, open_bets, top_unbet
from recommendations.ranking import Ranking

EngineClass = type[RecommendationEngine]


class RandomEngine(RecommendationEngine):
    """The baseline: open events drawn at random, skipping those the user has bet on.

    Seeded by the user id, so a run repeats and chunking changes nothing.
    An engine that does no better than this has learnt nothing.
    """

    name = "random"

    def recommend(self, user_ids: Sequence[int], ranking: Ranking) -> Iterator[Answer]:
        bets = open_bets(user_ids, self.now, self.history)
        catalogue = ranking.events(None)
        for user_id in user_ids:
            bet = bets.get(user_id, set())
            drawn = random.Random(user_id).sample(
                catalogue, min(len(catalogue), self.per_user + len(bet))
            )
            yield Answer(user_id=user_id, event_ids=top_unbet(drawn, bet, self.per_user), reason="")


class UnknownEngine(ValueError):
    def __init__(self, name: str, known: Iterable[str]):
        super().__init__(f"unknown engine {name!r} (known: {', '.join(known)})")


def _engine_classes(module) -> Iterator[EngineClass]:
    for value in vars(module).values():
        if (
            inspect.isclass(value)
            and issubclass(value, RecommendationEngine)
            and not inspect.isabstract(value)
            and value.__module__ == module.__name__
        ):
            yield value


def project_engines() -> dict[str, EngineClass]:
    """Every engine of the project by name, A→Z."""
    found: dict[str, EngineClass] = {}
    for module_info in pkgutil.iter_modules(engines.__path__):
        module = importlib.import_module(f"{engines.__name__}.{module_info.name}")
        found |= {engine.name: engine for engine in _engine_classes(module)}
    configured = import_string(settings.RECOMMENDATION_ENGINE)
    found.setdefault(configured.name, configured)
    return dict(sorted(found.items()))


def contenders(names: Sequence[str] | None = None) -> dict[str, EngineClass]:
    """The engines named (every one and the random baseline when None); UnknownEngine if not."""
    known = {**project_engines(), RandomEngine.name: RandomEngine}
    if not names:
        return known
    for name in names:
        if name not in known:
            raise UnknownEngine(name, known)
    return {name: known[name] for name in dict.fromkeys(names)}
