"""An evaluation as a table for people and as the JSON object docs/recommendations.md describes."""

from datetime import UTC

from recommendations.evaluation.metrics import KS, METRICS
from recommendations.evaluation.replay import Evaluation

LABELS = {"hit_rate": "hit rate", "precision": "precision", "recall": "recall", "ndcg": "NDCG"}


def as_json(evaluation: Evaluation) -> dict:
    """`{"at", "users", "engines": {name: {metric: {k: mean}, "coverage", "answered"}}}`."""
    return {
        "at": evaluation.at.astimezone(UTC).isoformat(),
        "users": evaluation.users,
        "engines": {
            name: {
                **{
                    metric: {str(k): round(result.means[metric][k], 6) for k in KS}
                    for metric in METRICS
                },
                "coverage": round(result.coverage, 6),
                "answered": result.answered,
            }
            for name, result in evaluation.engines.items()
        },
    }


def as_table(evaluation: Evaluation) -> str:
    """The figures as a fixed-width table, one block of metric rows per engine."""
    name_width = max([len("engine"), *map(len, evaluation.engines)])
    lines = [
        f"Cut-off {evaluation.at.astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC: {evaluation.users:,} "
        f"users selected events after it ({evaluation.cold_start:,} of them cold starts, with "
        f"no bet before it); {evaluation.catalogue:,} events were open.",
        "",
        f"{'engine':<{name_width}}  {'metric':<9}" + "".join(f"{'@' + str(k):>8}" for k in KS),
    ]
    for name, result in evaluation.engines.items():
        for row, metric in enumerate(METRICS):
            label = name if row == 0 else ""
            values = "".join(f"{result.means[metric][k]:>8.4f}" for k in KS)
            lines.append(f"{label:<{name_width}}  {LABELS[metric]:<9}{values}")
    lines += [
        "",
        f"{'engine':<{name_width}}  {'coverage':>8}  {'answered':>9}  {'of them cold starts':>19}",
    ]
    for name, result in evaluation.engines.items():
        lines.append(
            f"{name:<{name_width}}  {result.coverage:>8.1%}  {result.answered:>9,}  "
            f"{result.answered_cold_start:>19,}"
        )
    return "\n".join(lines)
