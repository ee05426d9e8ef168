"""Recommendation endpoints: read one user's (open, as in the seed) and rebuild everyone's."""

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from ingest.serializers import EventOutput
from recommendations import services


class RecommendationDetailApi(APIView):
    """A user's favourite sport and the open events recommended to them, best first."""

    authentication_classes = []
    permission_classes = []

    class RecommendationOutputSerializer(serializers.Serializer):
        user_id = serializers.IntegerField()
        sport = serializers.CharField(
            allow_null=True, help_text="The favourite sport; null when the user has no bets yet"
        )
        reason = serializers.CharField()
        generated_at = serializers.DateTimeField()
        engine = serializers.CharField()
        events = EventOutput(many=True)

    @extend_schema(
        responses={
            200: RecommendationOutputSerializer,
            404: OpenApiResponse(description="Unknown user"),
        },
    )
    def get(self, request, user_id: int):
        current = services.recommendation_current(user_id=user_id)
        recommendation = current.recommendation
        data = {
            "user_id": recommendation.user_id,
            "sport": recommendation.sport or None,
            "reason": recommendation.reason,
            "generated_at": recommendation.generated_at,
            "engine": recommendation.engine,
            "events": current.events,
        }
        return Response(self.RecommendationOutputSerializer(data).data)


class RecommendationGenerateApi(APIView):
    """Rebuild every user's recommendation now (normally signals keep them fresh)."""

    class GenerateOutputSerializer(serializers.Serializer):
        users = serializers.IntegerField(help_text="Users whose recommendation was rebuilt")
        seconds = serializers.FloatField()
        engine = serializers.CharField()

    @extend_schema(request=None, responses={200: GenerateOutputSerializer})
    def post(self, request):
        result = services.rebuild_all()
        data = {"users": result.users, "seconds": round(result.seconds, 3), "engine": result.engine}
        return Response(self.GenerateOutputSerializer(data).data)
