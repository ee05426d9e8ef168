"""Routes. The data API sits at the root, under the seed's paths."""

from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import (
    SpectacularJSONAPIView,
    SpectacularRedocView,
    SpectacularSwaggerView,
)

from betreco.metrics import metrics_view
from betreco.routing import slash_optional
from ingest.producer_urls import produce_urlpatterns

handler404 = "betreco.routing.not_found"

urlpatterns = [
    path("admin/", admin.site.urls),
    *slash_optional("openapi.json", SpectacularJSONAPIView.as_view(), "schema"),
    *slash_optional("docs", SpectacularSwaggerView.as_view(url_name="schema"), "swagger-ui"),
    *slash_optional("redoc", SpectacularRedocView.as_view(url_name="schema"), "redoc"),
    *slash_optional("metrics", metrics_view, "metrics"),
    path("api-auth/", include("rest_framework.urls")),
    path("", include("status.urls")),
    path("", include("recommendations.urls")),
    path("", include("ingest.urls")),
    *produce_urlpatterns,
]
