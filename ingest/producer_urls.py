"""Producer routes: the seed's POST paths in the producer role, /produce/<topic> in the API role."""

from betreco.routing import slash_optional
from ingest import apis
from ingest.kafka.topics import RECORD_KINDS
from ingest.producer_apis import produce_api

# The producer role's routes: the seed producers' POST /users, /events, /coupons.
urlpatterns = [
    *[
        pattern
        for kind in RECORD_KINDS
        for pattern in slash_optional(kind, produce_api(kind), f"produce-{kind}")
    ],
    *slash_optional("healthz", apis.HealthApi.as_view(), "healthz"),
    *slash_optional("readyz", apis.ReadinessApi.as_view(), "readyz"),
]

# The API role's routes: POST /produce/users, /produce/events, /produce/coupons.
produce_urlpatterns = [
    pattern
    for kind in RECORD_KINDS
    for pattern in slash_optional(f"produce/{kind}", produce_api(kind), f"produce-{kind}")
]
