"""REST API for marketing lists: CRUD, static members, audiences (DESIGN.md §3.5, §4).

Writes go through `marketing_list_save` / `marketing_list_members_change`; the audience is
`marketing_lists.audience`, as a JSON summary or, with `format=csv`, streamed as CSV in constant
memory. Errors: see common.api.
"""

from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import serializers, viewsets
from rest_framework.decorators import action
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response

from common.api import MAX_ID, Conflict, ModelSerializer
from common.audit import Source, delete_audited
from common.csvutil import csv_lines
from common.replica import reading_from_replica, streamed_from_replica
from consent.models import Channel
from marketing_lists.audience import (
    CSV_HEADER,
    audience_csv_rows,
    audience_request,
    audience_rows,
    audience_summary,
)
from marketing_lists.filters import MarketingListFilterSet
from marketing_lists.models import MarketingList
from marketing_lists.services import marketing_list_members, marketing_list_save
from marketing_lists.services import marketing_list_members_change as members_change

# One request adds or removes at most this many members (the ids go into one IN list).
MAX_MEMBER_IDS = 10_000


def _user(serializer):
    return serializer.context["request"].user


class MarketingListSerializer(ModelSerializer):
    class Meta:
        model = MarketingList
        fields = [
            "id",
            "name",
            "list_type",
            "member_type",
            "query",
            "purpose",
            "topic",
            "active",
            "created_at",
            "updated_at",
        ]
        extra_kwargs = {
            "query": {
                "help_text": "Dynamic lists: a query string over the member type's API filters "
                "(those of accounts/, contacts/ or leads/), e.g. `account=3&allow_bulk_email=true`."
                " Validated on save: an unknown parameter or value is a 400."
            },
            "purpose": {"help_text": "Makes this a subscription list (purpose id)."},
            "topic": {"help_text": "A topic of the list's purpose (topic id)."},
        }

    def create(self, validated_data):
        marketing_list = MarketingList(**validated_data)
        return marketing_list_save(
            marketing_list=marketing_list, user=_user(self), source=Source.API
        )

    def update(self, instance, validated_data):
        for name, value in validated_data.items():
            setattr(instance, name, value)
        return marketing_list_save(marketing_list=instance, user=_user(self), source=Source.API)


def _member_ids(help_text: str):
    return serializers.ListField(
        child=serializers.IntegerField(min_value=1, max_value=MAX_ID),
        required=False,
        default=list,
        max_length=MAX_MEMBER_IDS,
        help_text=help_text,
    )


class MembersChangeSerializer(serializers.Serializer):
    add = _member_ids("Ids of subjects of the list's member type to add (present ones are kept).")
    remove = _member_ids("Ids of subjects to remove (ids that are not members are ignored).")


class MembersChangedSerializer(serializers.Serializer):
    added = serializers.IntegerField(help_text="Members actually added.")
    removed = serializers.IntegerField(help_text="Members actually removed.")


class AudienceQuerySerializer(serializers.Serializer):
    channel = serializers.ChoiceField(choices=Channel.choices)
    purpose = serializers.IntegerField(min_value=1, max_value=MAX_ID, help_text="Purpose id.")
    topic = serializers.IntegerField(
        min_value=1, max_value=MAX_ID, required=False, help_text="Topic id (of the purpose)."
    )
    profile = serializers.IntegerField(
        min_value=1,
        max_value=MAX_ID,
        required=False,
        help_text="Compliance profile id; if given it must be the purpose's.",
    )
    format = serializers.ChoiceField(
        choices=["json", "csv"],
        default="json",
        help_text="`json`: counts; `csv`: every recipient and excluded member, streamed.",
    )

    def validate(self, attrs):
        unknown = sorted(set(self.initial_data) - set(self.fields))
        if unknown:
            raise serializers.ValidationError({name: ["Unknown parameter."] for name in unknown})
        return attrs


class AudienceSummarySerializer(serializers.Serializer):
    recipients = serializers.IntegerField(help_text="Sendable addresses (deduplicated).")
    excluded = serializers.DictField(
        child=serializers.IntegerField(),
        help_text="Excluded members per reason: `no_address`, `inactive` and the reason codes "
        "of the consent check.",
    )


@extend_schema_view(
    destroy=extend_schema(description="Delete the list and its static members."),
)
class MarketingListViewSet(viewsets.ModelViewSet):
    """Marketing lists: static (members by hand) or dynamic (a filter query, evaluated on read).

    `view=` takes the DPO views of marketing lists. Anonymized subjects never reach an audience.
    """

    queryset = MarketingList.objects.all()
    serializer_class = MarketingListSerializer
    filterset_class = MarketingListFilterSet
    action_permissions = {
        "members": ["%(app_label)s.change_%(model_name)s"],
        # The audience names people and their addresses.
        "audience": [
            "%(app_label)s.view_%(model_name)s",
            "subjects.view_contact",
            "subjects.view_lead",
        ],
    }

    def perform_destroy(self, instance):
        delete_audited(instance, user=self.request.user, source=Source.API)

    def perform_content_negotiation(self, request, force=False):
        # `format=csv` asks the audience action for its streamed CSV, which it returns itself;
        # whatever DRF renders there (the JSON counts, errors) is JSON. DRF would otherwise
        # look for a renderer named "csv" and answer 404.
        if self.action == "audience":
            renderer = JSONRenderer()
            return renderer, renderer.media_type
        return super().perform_content_negotiation(request, force)

    @extend_schema(request=MembersChangeSerializer, responses=MembersChangedSerializer)
    @action(detail=True, methods=["post"], filter_backends=[])
    def members(self, request, pk=None):
        """Add and remove members of a static list (409 for a dynamic list)."""
        marketing_list = self.get_object()
        if not marketing_list.is_static:
            raise Conflict("Members of a dynamic list come from its query; edit the query.")
        body = MembersChangeSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        counts = members_change(
            marketing_list=marketing_list,
            add=body.validated_data["add"],
            remove=body.validated_data["remove"],
            user=request.user,
            source=Source.API,
        )
        return Response(counts)

    @extend_schema(
        parameters=[AudienceQuerySerializer],
        responses={
            (200, "application/json"): AudienceSummarySerializer,
            (200, "text/csv"): OpenApiTypes.STR,
        },
    )
    @action(detail=True, methods=["get"], filter_backends=[], pagination_class=None)
    def audience(self, request, pk=None):
        """The list's audience for a channel and purpose (and topic): who may be sent to,
        deduplicated by address, and every excluded member with its reason.

        JSON answers the counts; `format=csv` streams one line per recipient and per excluded
        member (`member_type,member_id,address,allowed,reason`).
        """
        # A pure read that can live with a replica's lag (common.replica).
        with reading_from_replica():
            marketing_list = self.get_object()
            params = AudienceQuerySerializer(data=request.query_params)
            params.is_valid(raise_exception=True)
            options = dict(params.validated_data)
            output = options.pop("format")
            audience = audience_request(marketing_list=marketing_list, **options)
            self._check_query(marketing_list)
            if output != "csv":
                return Response(audience_summary(audience_rows(audience)))
        response = StreamingHttpResponse(
            streamed_from_replica(csv_lines(CSV_HEADER, audience_csv_rows(audience))),
            content_type="text/csv; charset=utf-8",
        )
        filename = f"audience-{marketing_list.pk}-{audience.channel}.csv"
        response["Content-Disposition"] = f'attachment; filename="{filename}"'
        return response

    def _check_query(self, marketing_list: MarketingList) -> None:
        """Fail before streaming: a stored query can stop being valid (e.g. an account it
        names was deleted). That is the list's state, not the request's fault: 409."""
        try:
            marketing_list_members(marketing_list)
        except DjangoValidationError as exc:
            raise Conflict(
                f"This list's query is no longer valid ({' '.join(exc.messages)}); edit the list."
            ) from exc
