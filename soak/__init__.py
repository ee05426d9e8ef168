"""The chaos soak: the whole pipeline under load while processes die, proved end to end.

`python -m soak --minutes 15 [--database-url URL]` (or `make soak`) starts the
embedded broker, a fresh database, two or more `consume_topic` processes in
one group and the producer under gunicorn; drives a seeded stream of users,
events and coupons at the producer over HTTP while a fault schedule kills
consumers and gunicorn workers, takes the database away and makes
consumers join and leave; then a full-speed phase (soak/fullspeed.py:
arrays posted as fast as eight producer workers answer, two consumers a
topic, consumers killed); then waits for the pipeline to settle and proves
what it stored (soak/checks.py), every acknowledged record reconciled by
the topic, partition and offset of its 202 (soak/reconcile.py).
`tests/soak/test_chaos_soak.py` runs a short version in the suite.
"""
