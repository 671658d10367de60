"""REST API of the consent load (DESIGN §3.8, §4 `consent-loads/`).

`POST consent-loads/` (multipart: `file`, `mode`, `dry_run`, `profile`; or `from_subjects`)
stores the load and answers 202 with its `id` at once; the Celery job runs it after the commit.
`GET consent-loads/{id}/` follows it: `status`, progress, `counts` and `row_errors`. Every write
goes through `consent.loads`, the same code as the admin and `manage.py load_consent`.
"""

from django.urls import reverse
from drf_spectacular.utils import extend_schema, extend_schema_field, extend_schema_view
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.response import Response

from common.api import IdRelatedField, StrictFilterSet
from consent.loads.rows import HEADER
from consent.loads.runner import consent_load_create
from consent.models import ComplianceProfile, ConsentLoad
from consent.models.load import COUNT_LABELS, COUNT_NAMES


# Read-only codes, listed in the description: an `enum` here would collide with the other
# "status" and "kind" enums of the API (drf-spectacular names enums by field name).
@extend_schema_field(
    {
        "type": "string",
        "description": "`pending` → `running` → `done`, or `failed` (see `message`); "
        "`previewed`: a finished dry run.",
    }
)
class LoadStatusField(serializers.CharField):
    pass


@extend_schema_field(
    {
        "type": "string",
        "description": "`invalid`: the row breaks a rule (blocks mode reject); `duplicate`: a "
        "row of the same key with a later captured_at won; `suppressed`: an erased address is "
        "never opted in.",
    }
)
class RowErrorKindField(serializers.CharField):
    pass


class ConsentLoadCountsSerializer(serializers.Serializer):
    """What the load found (a dry run: what it would do), row by row."""

    def get_fields(self):
        return {
            name: serializers.IntegerField(read_only=True, help_text=COUNT_LABELS[name])
            for name in COUNT_NAMES
        }


class ConsentLoadRowErrorSerializer(serializers.Serializer):
    line = serializers.IntegerField(
        allow_null=True, help_text="Line in the file (the header is line 1); null in migration."
    )
    column = serializers.CharField(allow_blank=True)
    message = serializers.CharField()
    kind = RowErrorKindField()


class ConsentLoadSerializer(serializers.ModelSerializer):
    status = LoadStatusField(read_only=True)
    created_by_name = serializers.CharField(
        source="created_by.get_username", read_only=True, allow_null=True
    )
    counts = ConsentLoadCountsSerializer(source="all_counts", read_only=True)
    progress_percent = serializers.IntegerField(read_only=True, allow_null=True)

    class Meta:
        model = ConsentLoad
        fields = [
            "id",
            "status",
            "file_name",
            "file_size",
            "profile",
            "mode",
            "dry_run",
            "from_subjects",
            "rows_total",
            "rows_processed",
            "progress_percent",
            "counts",
            "row_errors_total",
            "message",
            "preview",
            "created_by",
            "created_by_name",
            "created_at",
            "started_at",
            "finished_at",
        ]
        read_only_fields = fields


class ConsentLoadDetailSerializer(ConsentLoadSerializer):
    row_errors = ConsentLoadRowErrorSerializer(many=True, read_only=True)

    class Meta(ConsentLoadSerializer.Meta):
        fields = [*ConsentLoadSerializer.Meta.fields, "row_errors"]
        read_only_fields = fields


class ConsentLoadCreateSerializer(serializers.Serializer):
    file = serializers.FileField(
        required=False,
        allow_empty_file=True,  # the service answers with its own message
        help_text=f"UTF-8 CSV (BOM optional), header: {HEADER}",
    )
    mode = serializers.ChoiceField(
        choices=ConsentLoad.Mode.choices,
        default=ConsentLoad.Mode.REJECT,
        help_text="reject: any invalid row and nothing is written; skip: write the valid rows.",
    )
    dry_run = serializers.BooleanField(
        default=False, help_text="Only report what would change (status `previewed`)."
    )
    profile = IdRelatedField(
        queryset=ComplianceProfile.objects.all(),
        required=False,
        allow_null=True,
        help_text="Compliance profile id; the default profile if omitted.",
    )
    from_subjects = serializers.BooleanField(
        default=False,
        help_text="Migration mode, without a file: build consent from subject preferences "
        "and subscription lists.",
    )

    def create(self, validated_data):
        upload = validated_data.pop("file", None)
        return consent_load_create(
            **validated_data,
            file=upload,
            file_name=upload.name if upload else "",
            user=self.context["request"].user,
        )


class ConsentLoadFilterSet(StrictFilterSet):
    class Meta:
        model = ConsentLoad
        fields = ["status", "mode", "dry_run", "from_subjects", "profile"]


@extend_schema_view(
    list=extend_schema(description="Consent loads, newest first (row errors: see each load)."),
    retrieve=extend_schema(description="A load: status, progress, counts and row errors."),
    create=extend_schema(
        request={"multipart/form-data": ConsentLoadCreateSerializer},
        responses={202: ConsentLoadDetailSerializer},
        description="Store a consent load and start it as a job: 202 with its `id`. A file "
        "that is not a consent CSV is refused at once (400 on `file`); row errors come with "
        "the finished load.",
    ),
)
class ConsentLoadViewSet(
    mixins.CreateModelMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    viewsets.GenericViewSet,
):
    """Consent loads: POST to start one (needs `consent.add_consentload`), GET to follow it."""

    queryset = ConsentLoad.objects.select_related("created_by").order_by("-created_at", "-id")
    filterset_class = ConsentLoadFilterSet
    parser_classes = [MultiPartParser, FormParser, JSONParser]

    def get_queryset(self):
        queryset = super().get_queryset()
        return queryset.defer("row_errors") if self.action == "list" else queryset

    def get_serializer_class(self):
        if self.action == "create":
            return ConsentLoadCreateSerializer
        return ConsentLoadSerializer if self.action == "list" else ConsentLoadDetailSerializer

    def create(self, request, *args, **kwargs):
        body = self.get_serializer(data=request.data)
        body.is_valid(raise_exception=True)
        load = body.save()
        location = reverse("consentload-detail", args=[load.pk])
        data = ConsentLoadDetailSerializer(load, context=self.get_serializer_context()).data
        return Response(data, status=status.HTTP_202_ACCEPTED, headers={"Location": location})
