from betreco.routing import slash_optional
from recommendations import apis

urlpatterns = [
    *slash_optional(
        "recommendation/generate",
        apis.RecommendationGenerateApi.as_view(),
        "recommendation-generate",
    ),
    *slash_optional(
        "recommendation/<id:user_id>", apis.RecommendationDetailApi.as_view(), "recommendation"
    ),
    *slash_optional(
        "recommendations/<id:user_id>",
        apis.RecommendationDetailApi.as_view(),
        "recommendations",
    ),
]
