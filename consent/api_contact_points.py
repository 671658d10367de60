"""REST API for compliance profiles, purposes, topics, contact-point consent and the consent
check (DESIGN.md §4; the rules are §3.3–§3.4).

A contact-point consent is written only through `contact_point_consent_set` (one row per
channel, value, purpose and topic; a history row per real change), so `POST
contact-point-consents/` is an upsert: 201 when the record is new, 200 when it existed. Checks
go through `decide` / `decide_many`: one check costs at most five queries, a batch of up to
MAX_CHECKS the same handful whatever its size. Errors: see common.api.
"""

from datetime import timedelta

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import Q
from django.utils import timezone
from django_filters import rest_framework as filters
from drf_spectacular.utils import (
    PolymorphicProxySerializer,
    extend_schema,
    extend_schema_view,
)
from rest_framework import exceptions, mixins, serializers, status, viewsets
from rest_framework.parsers import JSONParser
from rest_framework.response import Response
from rest_framework.settings import api_settings

from common.api import MAX_ID, Conflict, IdRelatedField, ModelSerializer, StrictFilterSet
from consent.contact_points import (
    SUPPRESSED_MESSAGE,
    ConfigurationConflict,
    compliance_profile_save,
    configuration_delete,
    configuration_save,
    contact_point_consent_set,
)
from consent.contact_points import normalize_address as _normalize_address
from consent.decision import Decision, Reason, decide, decide_many
from consent.models import Channel, ComplianceProfile, ContactPointConsent, Purpose, Topic
from consent.models.contact_point import ADDRESS_MAX_LENGTH
from subjects.audit import Source

# The largest batch one request may check (DESIGN §4); larger ones are split by the caller.
MAX_CHECKS = 10_000
CHECK_FIELDS = ("channel", "value", "purpose", "topic", "profile")
REQUIRED_CHECK_FIELDS = ("channel", "value", "purpose")
CHECK_ID_FIELDS = {"purpose": "purpose", "topic": "topic", "profile": "compliance profile"}
NON_FIELD = api_settings.NON_FIELD_ERRORS_KEY


def _user(serializer):
    return serializer.context["request"].user


# ---------------------------------------------------------------------------------------------
# Compliance profiles, purposes, topics


class ComplianceProfileSerializer(ModelSerializer):
    # Declared, so DRF adds no uniqueness validator: making a profile the default switches.
    is_default = serializers.BooleanField(
        required=False,
        help_text="The profile used when none is named. Setting it on one profile unsets it "
        "on the previous default (atomically); it cannot be unset on the default itself.",
    )

    class Meta:
        model = ComplianceProfile
        fields = [
            "id",
            "name",
            "slug",
            "is_default",
            "check_subject_consent",
            "double_opt_in",
            "unsubscribe_scope",
            "intro_text",
            "footer_text",
            "notice_url",
            "notice_version",
            "sender_name",
            "data_policy",
        ]

    def create(self, validated_data):
        return compliance_profile_save(
            ComplianceProfile(), validated_data, user=_user(self), source=Source.API
        )

    def update(self, instance, validated_data):
        return compliance_profile_save(
            instance, validated_data, user=_user(self), source=Source.API
        )


class PurposeSerializer(ModelSerializer):
    class Meta:
        model = Purpose
        fields = ["id", "profile", "name", "kind", "consent_model", "required_level"]
        extra_kwargs = {
            "required_level": {
                "help_text": "Lowest data-consent level every subject holding the address "
                "needs (0–5; checked when the profile checks subject consent)."
            }
        }

    def validate_profile(self, profile):
        if self.instance is not None and profile.pk != self.instance.profile_id:
            raise serializers.ValidationError(
                "A purpose cannot move to another profile; create a purpose there instead."
            )
        return profile

    def create(self, validated_data):
        return configuration_save(Purpose(), validated_data, user=_user(self), source=Source.API)

    def update(self, instance, validated_data):
        return configuration_save(instance, validated_data, user=_user(self), source=Source.API)


class TopicSerializer(ModelSerializer):
    class Meta:
        model = Topic
        fields = ["id", "purpose", "name", "description", "active"]

    def validate_purpose(self, purpose):
        if self.instance is not None and purpose.pk != self.instance.purpose_id:
            raise serializers.ValidationError(
                "A topic cannot move to another purpose; create a topic there instead."
            )
        return purpose

    def create(self, validated_data):
        return configuration_save(Topic(), validated_data, user=_user(self), source=Source.API)

    def update(self, instance, validated_data):
        return configuration_save(instance, validated_data, user=_user(self), source=Source.API)


class ComplianceProfileFilterSet(StrictFilterSet):
    name = filters.CharFilter(lookup_expr="icontains", label="Name contains")

    class Meta:
        model = ComplianceProfile
        fields = ["slug", "is_default", "double_opt_in"]


class PurposeFilterSet(StrictFilterSet):
    class Meta:
        model = Purpose
        fields = ["profile", "kind", "consent_model"]


class TopicFilterSet(StrictFilterSet):
    name = filters.CharFilter(lookup_expr="icontains", label="Name contains")

    class Meta:
        model = Topic
        fields = {"purpose": ["exact"], "purpose__profile": ["exact"], "active": ["exact"]}


@extend_schema_view(
    destroy=extend_schema(
        description="Delete a profile that is not the default and whose purposes no "
        "contact-point consent or marketing list uses (409 otherwise)."
    )
)
class ComplianceProfileViewSet(viewsets.ModelViewSet):
    """Compliance profiles. Exactly one is the default: making another one the default
    switches it atomically; the default cannot be unset (400) or deleted (409)."""

    conflict_errors = (ConfigurationConflict,)
    queryset = ComplianceProfile.objects.all()
    serializer_class = ComplianceProfileSerializer
    filterset_class = ComplianceProfileFilterSet

    def perform_destroy(self, instance):
        configuration_delete(instance, user=self.request.user, source=Source.API)


@extend_schema_view(
    destroy=extend_schema(
        description="Delete a purpose (and its topics) that no contact-point consent or "
        "marketing list uses (409 otherwise)."
    )
)
class PurposeViewSet(viewsets.ModelViewSet):
    """Purposes of a compliance profile: kind, consent model, required data-consent level."""

    conflict_errors = (ConfigurationConflict,)
    queryset = Purpose.objects.all()
    serializer_class = PurposeSerializer
    filterset_class = PurposeFilterSet

    def perform_destroy(self, instance):
        configuration_delete(instance, user=self.request.user, source=Source.API)


@extend_schema_view(
    destroy=extend_schema(
        description="Delete a topic that no contact-point consent or marketing list uses "
        "(409 otherwise; set `active` to false instead)."
    )
)
class TopicViewSet(viewsets.ModelViewSet):
    """Topics of a purpose (e.g. Events, Newsletter)."""

    conflict_errors = (ConfigurationConflict,)
    queryset = Topic.objects.all()
    serializer_class = TopicSerializer
    filterset_class = TopicFilterSet

    def perform_destroy(self, instance):
        configuration_delete(
            instance, user=self.request.user, source=Source.API, hint="Set active to false instead."
        )


# ---------------------------------------------------------------------------------------------
# Contact-point consents


class ContactPointConsentSerializer(ModelSerializer):
    """Read, and the body of the upsert (every field of the new state and its evidence)."""

    value = serializers.CharField(
        max_length=ADDRESS_MAX_LENGTH,
        help_text="The address: an email, a phone number (any format; stored in E.164) or a "
        "custom id. Stored normalized.",
    )
    topic = IdRelatedField(
        queryset=Topic.objects.all(),
        required=False,
        allow_null=True,
        help_text="A topic of the purpose; empty for the purpose-level record.",
    )
    captured_by_name = serializers.CharField(
        source="captured_by.username",
        read_only=True,
        allow_null=True,
        help_text="Username of who recorded the current state.",
    )
    notice_version = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=50,
        help_text="Version of the notice shown; defaults to the profile's.",
    )

    class Meta:
        model = ContactPointConsent
        fields = [
            "id",
            "channel",
            "value",
            "purpose",
            "topic",
            "status",
            "source",
            "reason",
            "reason_description",
            "requested_by",
            "captured_by",
            "captured_by_name",
            "captured_at",
            "ip_address",
            "user_agent",
            "notice_version",
            "expires_at",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["captured_by"]
        # The upsert finds the existing record itself: no "must make a unique set" errors.
        validators = []
        extra_kwargs = {
            "status": {"required": True},
            "source": {"default": Source.API},
            "captured_at": {"help_text": "When the customer gave or withdrew it; default now."},
            "ip_address": {"help_text": "Defaults to the API caller's address."},
            "user_agent": {"help_text": "Defaults to the API caller's User-Agent."},
            "expires_at": {"help_text": "An opt-in past this moment counts as not set."},
        }

    def validate_captured_at(self, value):
        # Evidence cannot come from the future (a day of clock skew is tolerated).
        if value > timezone.now() + timedelta(days=1):
            raise serializers.ValidationError("Consent cannot be captured in the future.")
        return value

    def validate(self, attrs):
        expires_at = attrs.get("expires_at")
        if expires_at and expires_at <= attrs.get("captured_at", timezone.now()):
            raise serializers.ValidationError(
                {"expires_at": ["An expiry must be later than the capture."]}
            )
        return attrs


def _is_suppressed_error(exc: DjangoValidationError) -> bool:
    errors = getattr(exc, "error_dict", {}).get("value", [])
    return any(error.code == "suppressed" for error in errors)


class ContactPointConsentFilterSet(StrictFilterSet):
    value = filters.CharFilter(
        method="filter_value",
        label="Address, normalized like the stored one (Ada@Example.org finds ada@example.org)",
    )

    class Meta:
        model = ContactPointConsent
        fields = {
            "channel": ["exact"],
            "purpose": ["exact"],
            "topic": ["exact", "isnull"],
            "status": ["exact"],
            "source": ["exact"],
            "captured_at": ["gte", "lte"],
        }

    def filter_value(self, queryset, name, value):
        channel = self.form.cleaned_data.get("channel")
        if channel:
            return queryset.filter(channel=channel, value=_normalize_address(channel, value))
        # No channel given: the address in every channel it is valid for.
        match = Q()
        for each in Channel.values:
            try:
                match |= Q(channel=each, value=_normalize_address(each, value))
            except DjangoValidationError:
                continue
        return queryset.filter(match) if match else queryset.none()


@extend_schema_view(
    create=extend_schema(
        description="Upsert on (channel, value, purpose, topic) through the consent service: "
        "201 with the new record, 200 when a record existed (changed, or unchanged when the "
        "same status and evidence are sent again). Opting in a suppressed address is 409. "
        "Needs `consent.add_contactpointconsent` and `consent.change_contactpointconsent`.",
        responses={201: ContactPointConsentSerializer, 200: ContactPointConsentSerializer},
    )
)
class ContactPointConsentViewSet(
    mixins.CreateModelMixin,
    mixins.RetrieveModelMixin,
    mixins.ListModelMixin,
    viewsets.GenericViewSet,
):
    """Consent per address: no update or delete (405) — a new state is a new POST, and the
    previous one stays in the record's history."""

    queryset = ContactPointConsent.objects.select_related("captured_by")
    serializer_class = ContactPointConsentSerializer
    filterset_class = ContactPointConsentFilterSet
    # An upsert may change an existing record, so it needs both.
    action_permissions = {
        "create": ["consent.add_contactpointconsent", "consent.change_contactpointconsent"]
    }

    def create(self, request, *args, **kwargs):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = {
            "ip_address": request.META.get("REMOTE_ADDR") or None,
            "user_agent": request.META.get("HTTP_USER_AGENT", ""),
            "notice_version": None,  # the service then uses the profile's
            **serializer.validated_data,
        }
        try:
            record, created, _ = contact_point_consent_set(**data, user=request.user)
        except DjangoValidationError as exc:
            if _is_suppressed_error(exc):
                raise Conflict(SUPPRESSED_MESSAGE) from exc
            raise
        answer = self.get_serializer(record).data
        return Response(answer, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)


# ---------------------------------------------------------------------------------------------
# Consent checks


class ConsentCheckSerializer(serializers.Serializer):
    """One question (documentation; the view validates the body itself, set-based)."""

    channel = serializers.ChoiceField(choices=Channel.choices)
    value = serializers.CharField(help_text="The address, in any format valid for the channel.")
    purpose = serializers.IntegerField(help_text="Purpose id.")
    topic = serializers.IntegerField(
        required=False, allow_null=True, help_text="Topic id (a topic of the purpose)."
    )
    profile = serializers.IntegerField(
        required=False,
        allow_null=True,
        help_text="Compliance profile id; if given it must be the purpose's.",
    )


class BulkConsentCheckSerializer(serializers.Serializer):
    checks = ConsentCheckSerializer(many=True, max_length=MAX_CHECKS)


class ConsentDecisionSerializer(serializers.Serializer):
    allowed = serializers.BooleanField()
    reason = serializers.ChoiceField(choices=Reason.choices)
    tracking_allowed = serializers.BooleanField(
        help_text="The same rules for the profile's tracking purpose (no topic)."
    )


class BulkConsentDecisionSerializer(serializers.Serializer):
    results = ConsentDecisionSerializer(many=True, help_text="One per check, in order.")


def _shape_errors(check, prefix: str) -> dict[str, list[str]]:
    """Missing and unknown keys, and ids no table can hold: per-field messages.

    Unknown keys are refused, not ignored: a misspelt `topic` would silently check the
    purpose alone and could allow a send the topic forbids.
    """
    if not isinstance(check, dict):
        return {prefix.rstrip(".") or NON_FIELD: ["Send the check as a JSON object."]}
    errors = {f"{prefix}{name}": ["This field is required."] for name in REQUIRED_CHECK_FIELDS}
    for name in check:
        errors.pop(f"{prefix}{name}", None)
        if name not in CHECK_FIELDS:
            errors[f"{prefix}{name}"] = ["Unknown field."]
        elif name in CHECK_ID_FIELDS and _out_of_range(check[name]):
            errors[f"{prefix}{name}"] = [f"Unknown {CHECK_ID_FIELDS[name]}."]
    return errors


_CHECK_KEYS = frozenset(CHECK_FIELDS)
_REQUIRED_KEYS = frozenset(REQUIRED_CHECK_FIELDS)


def _well_shaped(check) -> bool:
    """True when `_shape_errors` has nothing to say: known keys, the required ones, and ids
    that are plain integers or None within range (anything else takes the full check)."""
    if type(check) is not dict:
        return False
    keys = check.keys()
    if not (_REQUIRED_KEYS <= keys <= _CHECK_KEYS):
        return False
    for name in ("purpose", "topic", "profile"):
        value = check.get(name)
        if not (value is None or (type(value) is int and value <= MAX_ID)):
            return False
    return True


def _out_of_range(value) -> bool:
    """An integer id no table can hold (the decision engine would pass it to the database)."""
    if isinstance(value, str) and value.isascii() and value.isdigit():
        return len(value) > len(str(MAX_ID)) or int(value) > MAX_ID
    return isinstance(value, int) and not isinstance(value, bool) and value > MAX_ID


def _answer(decision: Decision) -> dict:
    return {
        "allowed": decision.allowed,
        "reason": decision.reason,
        "tracking_allowed": decision.tracking_allowed,
    }


class ConsentCheckViewSet(viewsets.GenericViewSet):
    """The consent decision before a send (DESIGN §3.4), for one address or a batch.

    Needs only `consent.check_consent`, so a sending system can hold a token that can check and
    do nothing else.
    """

    queryset = ContactPointConsent.objects.none()
    serializer_class = ConsentCheckSerializer  # OPTIONS describes the single check
    action_permissions = {"create": ["consent.check_consent"]}
    parser_classes = [JSONParser]
    filter_backends = []
    pagination_class = None

    @extend_schema(
        description="One check `{channel, value, purpose, topic?, profile?}` answers "
        '`{allowed, reason, tracking_allowed}`; `{"checks": [...]}` (at most '
        f'{MAX_CHECKS:,}) answers `{{"results": [...]}}` in the same order, with a constant '
        "number of queries. Invalid checks are 400 with messages keyed "
        "`checks[<index>].<field>`. Pure read: nothing is written.",
        request=PolymorphicProxySerializer(
            component_name="ConsentCheckBody",
            serializers=[ConsentCheckSerializer, BulkConsentCheckSerializer],
            resource_type_field_name=None,
        ),
        responses={
            200: PolymorphicProxySerializer(
                component_name="ConsentCheckAnswer",
                serializers=[ConsentDecisionSerializer, BulkConsentDecisionSerializer],
                resource_type_field_name=None,
            )
        },
    )
    def create(self, request):
        body = request.data
        if not isinstance(body, dict):
            raise exceptions.ValidationError(
                {NON_FIELD: ['Send one check as a JSON object, or {"checks": [...]}.']}
            )
        if "checks" in body:
            decisions = decide_many(self._checks(body))
            return Response({"results": [_answer(decision) for decision in decisions]})
        errors = _shape_errors(body, prefix="")
        if errors:
            raise exceptions.ValidationError(errors)
        return Response(_answer(decide(**body)))

    def _checks(self, body: dict) -> list[dict]:
        checks = body["checks"]
        errors = {name: ["Unknown field."] for name in body if name != "checks"}
        if not isinstance(checks, list):
            errors["checks"] = ["Send a list of checks."]
        elif len(checks) > MAX_CHECKS:
            errors["checks"] = [f"At most {MAX_CHECKS:,} checks per request; split the batch."]
        else:
            for index, check in enumerate(checks):
                if not _well_shaped(check):  # the usual case costs one cheap test
                    errors.update(_shape_errors(check, prefix=f"checks[{index}]."))
        if errors:
            raise exceptions.ValidationError(errors)
        return checks
