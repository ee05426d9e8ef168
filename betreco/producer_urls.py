"""Routes of the producer role (BETRECO_ROLE=producer): the seed's POSTs, published to Kafka."""

from django.urls import include, path
from drf_spectacular.views import (
    SpectacularJSONAPIView,
    SpectacularRedocView,
    SpectacularSwaggerView,
)

from betreco.metrics import metrics_view
from betreco.routing import slash_optional

urlpatterns = [
    *slash_optional("openapi.json", SpectacularJSONAPIView.as_view(), "schema"),
    *slash_optional("docs", SpectacularSwaggerView.as_view(url_name="schema"), "swagger-ui"),
    *slash_optional("redoc", SpectacularRedocView.as_view(url_name="schema"), "redoc"),
    *slash_optional("metrics", metrics_view, "metrics"),
    path("", include("ingest.producer_urls")),
]
