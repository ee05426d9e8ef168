"""The data API: thin views that validate, call one service or selector, serialize.

A write view, after its service call, asks for the drains to run once its
transaction commits (`hooks.drain_after_commit`): what the write owes the
recommendations is settled beside the server, not in the request.
"""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.generics import ListAPIView
from rest_framework.response import Response
from rest_framework.views import APIView

from ingest import hooks, selectors, services
from ingest.filters import CouponFilter, EventFilter, FilterSetSchema, UserFilter
from ingest.health import readiness
from ingest.models import Event, User
from ingest.serializers import CouponOutput, EventOutput, UserOutput
from ingest.validation import CouponInput, EventInput, InvalidRecord, UserInput, validate_record


def _created_or_updated(model, pk) -> int:
    return status.HTTP_200_OK if model.objects.filter(pk=pk).exists() else status.HTTP_201_CREATED


class UserListCreateApi(ListAPIView):
    serializer_class = UserOutput
    filter_backends = [FilterSetSchema]
    filterset_class = UserFilter

    def get_queryset(self):
        return selectors.user_list(filters=self.request.query_params)

    @extend_schema(
        request=UserInput,
        responses={201: UserOutput, 200: UserOutput},
        description="Store a user (an upsert by id: 200 when it replaced a stored one).",
    )
    def post(self, request):
        record = _validated("users", request.data)
        code = _created_or_updated(User, record["id"])
        services.users_upsert(records=[record])
        hooks.drain_after_commit()
        return Response(UserOutput(selectors.user_get(user_id=record["id"])).data, status=code)


class UserDetailApi(APIView):
    @extend_schema(responses={200: UserOutput})
    def get(self, request, user_id: int):
        return Response(UserOutput(selectors.user_get(user_id=user_id)).data)


class EventListCreateApi(ListAPIView):
    serializer_class = EventOutput
    filter_backends = [FilterSetSchema]
    filterset_class = EventFilter

    def get_queryset(self):
        return selectors.event_list(filters=self.request.query_params)

    @extend_schema(request=EventInput, responses={201: EventOutput, 200: EventOutput})
    def post(self, request):
        record = _validated("events", request.data)
        code = _created_or_updated(Event, record["id"])
        services.events_upsert(records=[record])
        hooks.drain_after_commit()
        return Response(EventOutput(selectors.event_get(event_id=record["id"])).data, status=code)


class EventDetailApi(APIView):
    @extend_schema(responses={200: EventOutput})
    def get(self, request, event_id: int):
        return Response(EventOutput(selectors.event_get(event_id=event_id)).data)


class CouponListCreateApi(ListAPIView):
    serializer_class = CouponOutput
    filter_backends = [FilterSetSchema]
    filterset_class = CouponFilter

    def get_queryset(self):
        return selectors.coupon_list(filters=self.request.query_params)

    @extend_schema(
        request=CouponInput,
        responses={201: CouponOutput, 200: CouponOutput},
        description="Store a coupon. Its user and every selected event must exist.",
    )
    def post(self, request):
        record = _validated("coupons", request.data)
        try:
            created = services.coupon_put(record=record)
        except services.MissingReferences as refused:
            raise serializers.ValidationError(refused.errors) from None
        hooks.drain_after_commit()
        code = status.HTTP_201_CREATED if created else status.HTTP_200_OK
        # What was stored is exactly the record: answered from it, not read back.
        return Response(CouponOutput(record).data, status=code)


class CouponDetailApi(APIView):
    @extend_schema(responses={200: CouponOutput})
    def get(self, request, coupon_id: int):
        return Response(CouponOutput(selectors.coupon_get(coupon_id=coupon_id)).data)


class UserCouponsApi(ListAPIView):
    serializer_class = CouponOutput

    def get_queryset(self):
        user = selectors.user_get(user_id=self.kwargs["user_id"])
        return selectors.coupon_list(filters={"user_id": user.pk})


class HealthApi(APIView):
    """The process is up."""

    authentication_classes = []
    permission_classes = []
    throttle_classes = []  # probes are frequent and must never be refused

    @extend_schema(responses={200: OpenApiTypes.OBJECT})
    def get(self, request):
        return Response({"status": "ok"})


class ReadinessApi(APIView):
    """The database and the Kafka broker can be reached."""

    authentication_classes = []
    permission_classes = []
    throttle_classes = []  # probes are frequent and must never be refused

    @extend_schema(responses={200: OpenApiTypes.OBJECT, 503: OpenApiTypes.OBJECT})
    def get(self, request):
        result = readiness()
        return Response(
            result.as_dict(),
            status=status.HTTP_200_OK if result.ready else status.HTTP_503_SERVICE_UNAVAILABLE,
        )


def _validated(kind: str, data) -> dict:
    try:
        return validate_record(kind, data)
    except InvalidRecord as invalid:
        raise serializers.ValidationError(invalid.errors) from None
