"""Offline evaluation: replay history on a time split, score every engine (docs/recommendations.md).

`replay.py` splits history at a cut-off and asks each engine for the
answers it would have given then; `metrics.py` scores them against what
each user went on to select; `contenders.py` names the engines;
`report.py` and `chart.py` show the result. Nothing here writes.
"""
