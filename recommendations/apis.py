"""Recommendation endpoints: read one user's and rebuild everyone's (betreco.auth says who may)."""

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from ingest.serializers import EventOutput
from recommendations import rebuild, selectors
from recommendations.engines.base import load_engine


class RecommendationDetailApi(APIView):
    """A user's favourite sport and the open events recommended to them, best first."""

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
        current = selectors.recommendation_current(user_id=user_id)
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
    """Rebuild every user's recommendation (normally the outbox keeps them fresh).

    Answers 202 at once, whatever the size: the request is stored and a
    thread of this server runs it (or, if this server stops first, whoever
    drains the outbox next). Its progress: `manage.py rebuild_recommendations`
    and the status page.
    """

    class GenerateOutputSerializer(serializers.Serializer):
        rebuild = serializers.IntegerField(help_text="The rebuild request's id")
        state = serializers.CharField(help_text="'requested': it runs in the background")
        users = serializers.IntegerField(help_text="Users whose recommendation will be rebuilt")
        requested_at = serializers.DateTimeField()
        engine = serializers.CharField()

    @extend_schema(request=None, responses={202: GenerateOutputSerializer})
    def post(self, request):
        requested = rebuild.rebuild_request()
        rebuild.rebuild_in_background()
        data = {
            "rebuild": requested.pk,
            "state": "requested",
            "users": requested.users_total,
            "requested_at": requested.requested_at,
            "engine": load_engine().name,
        }
        return Response(self.GenerateOutputSerializer(data).data, status=status.HTTP_202_ACCEPTED)
