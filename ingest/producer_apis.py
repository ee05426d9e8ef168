"""Producer endpoints: validate records' shape, publish them to Kafka, answer once acknowledged.

`POST /users`, `/events`, `/coupons` in the producer role and
`POST /produce/<topic>` in the API role take one record or a JSON array of
records. Every record is checked (shape only: whether a coupon's user and
events exist is the consumer's question) before any is published, so one
bad record refuses the whole request with a 400 naming its index and
fields. 202 comes only after the broker acknowledged every record; a broker
that cannot take them gets a 503 with Retry-After.
"""

from drf_spectacular.utils import OpenApiExample, PolymorphicProxySerializer, extend_schema
from rest_framework import serializers, status
from rest_framework.parsers import JSONParser
from rest_framework.response import Response
from rest_framework.views import APIView

from betreco import metrics
from ingest.errors import unavailable
from ingest.kafka.producer import BrokerUnavailable, publish_records
from ingest.kafka.topics import topic_name
from ingest.validation import INPUT_SERIALIZERS, InvalidRecord, validate_records


class ReceiptOutput(serializers.Serializer):
    id = serializers.IntegerField(help_text="The record's id (assigned when it was sent without)")
    topic = serializers.CharField()
    partition = serializers.IntegerField()
    offset = serializers.IntegerField()


class RefusedOutput(serializers.Serializer):
    detail = serializers.CharField(help_text="One line naming every bad record and field")
    records = serializers.DictField(
        child=serializers.DictField(),
        help_text=(
            "Field errors of each bad record, keyed by its index in the request "
            "(0 for a single record), as the data API reports them."
        ),
    )


class UnavailableOutput(serializers.Serializer):
    detail = serializers.CharField()


class ProduceApi(APIView):
    """Publish one record or an array of records of `kind` to its topic."""

    kind: str = ""
    parser_classes = [JSONParser]

    def post(self, request):
        single = not isinstance(request.data, list)
        data = [request.data] if single else request.data
        if not data:
            return _refused({}, "Send one record or a non-empty array of records.")
        records, errors = _validate_all(self.kind, data)
        if errors:
            return _refused(errors)
        try:
            receipts = publish_records(self.kind, records)
        except BrokerUnavailable as error:
            return unavailable(str(error))
        output = ReceiptOutput(receipts[0] if single else receipts, many=not single)
        return Response(output.data, status=status.HTTP_202_ACCEPTED)


def _validate_all(kind: str, data: list) -> tuple[list[dict], dict[str, dict]]:
    """Every record validated, or the errors of the bad ones keyed by index."""
    records, errors = [], {}
    for index, result in enumerate(validate_records(kind, data)):
        if isinstance(result, InvalidRecord):
            errors[str(index)] = result.errors
        else:
            records.append(result)
    return records, errors


def _refused(errors: dict, detail: str = "") -> Response:
    if not detail:
        detail = "; ".join(
            f"record {index}: {InvalidRecord(fields)}" for index, fields in errors.items()
        )
    return Response({"detail": detail, "records": errors}, status=status.HTTP_400_BAD_REQUEST)


def produce_api(kind: str):
    """The view for one record kind, with its OpenAPI description."""
    input_serializer = INPUT_SERIALIZERS[kind]
    name = kind.capitalize()
    schema = extend_schema(
        summary=f"Publish {kind} to Kafka",
        description=(
            f"One {kind[:-1]} or a JSON array of them. Each is validated (shape only) and "
            "published; 202 lists each record's id, topic, partition and offset once the "
            "broker acknowledged them all. One bad record refuses the whole request (400, "
            "nothing published); a broker that cannot take them answers 503 with "
            "Retry-After (nothing acknowledged to you; retry)."
        ),
        request=PolymorphicProxySerializer(
            component_name=f"{name}Records",
            serializers=[input_serializer, input_serializer(many=True)],
            resource_type_field_name=None,
            many=False,
        ),
        responses={
            202: PolymorphicProxySerializer(
                component_name=f"{name}Receipts",
                serializers=[ReceiptOutput, ReceiptOutput(many=True)],
                resource_type_field_name=None,
                many=False,
            ),
            400: RefusedOutput,
            503: UnavailableOutput,
        },
        examples=[
            OpenApiExample(
                "refused",
                response_only=True,
                status_codes=["400"],
                value={
                    "detail": "record 1: birth_year: A valid integer is required.",
                    "records": {"1": {"birth_year": ["A valid integer is required."]}},
                },
            )
        ],
    )

    @schema
    def post(self, request):  # a function of its own, so each kind has its own schema
        return ProduceApi.post(self, request)

    metrics.start_series(metrics.PRODUCER_TOPIC_METRICS, [topic_name(kind)])
    return type(f"Produce{name}Api", (ProduceApi,), {"kind": kind, "post": post}).as_view()
