"""The chart of an evaluation: hit rate and NDCG by k, a line per engine (PNG or SVG)."""

from datetime import UTC
from pathlib import Path

from recommendations.evaluation.metrics import KS
from recommendations.evaluation.replay import Evaluation

FORMATS = (".png", ".svg")
PANELS = (("hit_rate", "Hit rate @ k"), ("ndcg", "NDCG @ k"))


def chart_format_check(path: str) -> None:
    """ValueError unless the file name says PNG or SVG."""
    if Path(path).suffix.lower() not in FORMATS:
        raise ValueError(f"{path!r} must end in {' or '.join(FORMATS)}")


def chart_write(evaluation: Evaluation, path: str) -> None:
    # Figure directly, not pyplot: no GUI backend, no global state.
    from matplotlib.figure import Figure

    chart_format_check(path)
    figure = Figure(figsize=(8, 3.4), layout="constrained")
    for axes, (metric, title) in zip(figure.subplots(1, 2), PANELS, strict=True):
        for name, result in evaluation.engines.items():
            axes.plot(KS, [result.means[metric][k] for k in KS], marker="o", label=name)
        axes.set(title=title, xlabel="k", xticks=KS)
        axes.set_ylim(bottom=0)
        axes.grid(alpha=0.3)
    figure.axes[0].legend()
    figure.suptitle(
        f"Cut-off {evaluation.at.astimezone(UTC):%Y-%m-%d %H:%M} UTC, "
        f"{evaluation.users:,} users scored on what they selected after it"
    )
    figure.savefig(path, dpi=100)
