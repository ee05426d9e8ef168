"""The status page (docs/operations.md): `GET /status` for people, `GET /status.json` for machines.

A small app of its own because it reads both halves of the service:
ingest's figures (what the consumers report, dead letters, parked
coupons, readiness) and the recommendations' (the refresh outbox, full
rebuilds). Ingest must never import recommendations, and recommendations
is about answers, not about operating the pipeline; so the page sits
above both and nothing imports it.
"""
