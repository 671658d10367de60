"""The consent check (DESIGN §3.4, §4): one check or up to 10,000 in one request."""

from datetime import datetime

from django.core.exceptions import ValidationError as DjangoValidationError
from django.utils.dateparse import parse_datetime
from drf_spectacular.utils import (
    PolymorphicProxySerializer,
    extend_schema,
)
from rest_framework import exceptions, serializers, viewsets
from rest_framework.parsers import JSONParser
from rest_framework.response import Response
from rest_framework.settings import api_settings

from common.api import MAX_ID
from common.connections import read_checked_on_failure
from consent.decision.bulk import decide_many
from consent.decision.past import validate_as_of
from consent.decision.rules import Decision, Reason
from consent.decision.single import decide
from consent.models import Channel, ContactPointConsent

# The largest batch one request may check (DESIGN §4); larger ones are split by the caller.
MAX_CHECKS = 10_000


CHECK_FIELDS = ("channel", "value", "purpose", "topic", "profile")


REQUIRED_CHECK_FIELDS = ("channel", "value", "purpose")


CHECK_ID_FIELDS = {"purpose": "purpose", "topic": "topic", "profile": "compliance profile"}


NON_FIELD = api_settings.NON_FIELD_ERRORS_KEY


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


class SingleConsentCheckSerializer(ConsentCheckSerializer):
    explain = serializers.BooleanField(
        required=False, default=False, help_text="Also return the decision's `explanation`."
    )
    as_of = serializers.DateTimeField(
        required=False,
        help_text="An ISO 8601 instant in the past: the decision as the data stood then.",
    )


class BulkConsentCheckSerializer(serializers.Serializer):
    checks = ConsentCheckSerializer(many=True, max_length=MAX_CHECKS)
    explain = serializers.BooleanField(required=False, default=False)
    as_of = serializers.DateTimeField(required=False)


class ExplainedSubjectSerializer(serializers.Serializer):
    type = serializers.ChoiceField(choices=["lead", "contact"])
    id = serializers.IntegerField()
    data_protection_consent = serializers.CharField()
    restricted = serializers.BooleanField()
    consent_level = serializers.IntegerField()
    allow_email = serializers.BooleanField()
    allow_bulk_email = serializers.BooleanField()
    allow_sms = serializers.BooleanField()
    allow_phone = serializers.BooleanField()
    allow_tracking = serializers.BooleanField()


class ExplainedRecordSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    purpose = serializers.IntegerField()
    topic = serializers.IntegerField(allow_null=True)
    status = serializers.CharField()
    effective_status = serializers.CharField(help_text="An expired opt-in reads as not_set.")
    source = serializers.CharField()
    captured_at = serializers.DateTimeField()
    notice_version = serializers.CharField()


class ExplanationSerializer(serializers.Serializer):
    rule = serializers.CharField(help_text='The number of the §3.4 rule that decided, e.g. "5".')
    suppressed = serializers.BooleanField()
    required_level = serializers.IntegerField()
    subjects = ExplainedSubjectSerializer(many=True)
    records = ExplainedRecordSerializer(many=True)


class ConsentDecisionSerializer(serializers.Serializer):
    allowed = serializers.BooleanField()
    reason = serializers.ChoiceField(choices=Reason.choices)
    tracking_allowed = serializers.BooleanField(
        help_text="The same rules for the profile's tracking purpose (no topic)."
    )
    explanation = ExplanationSerializer(required=False, help_text="With `explain: true`.")
    as_of = serializers.DateTimeField(required=False, help_text="Echoed when asked.")


class BulkConsentDecisionSerializer(serializers.Serializer):
    results = ConsentDecisionSerializer(many=True, help_text="One per check, in order.")
    as_of = serializers.DateTimeField(required=False, help_text="Echoed when asked.")


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
    answer = {
        "allowed": decision.allowed,
        "reason": decision.reason,
        "tracking_allowed": decision.tracking_allowed,
    }
    if decision.explanation is not None:
        answer["explanation"] = decision.explanation.as_dict()
    return answer


def _options(body: dict) -> tuple[dict, dict]:
    """(`explain` and `as_of` as decide() takes them, field errors), popped from `body`."""
    options, errors = {}, {}
    explain = body.pop("explain", False)
    if isinstance(explain, bool):
        options["explain"] = explain
    else:
        errors["explain"] = ["Must be true or false."]
    if "as_of" in body:
        try:
            options["as_of"] = _as_of(body.pop("as_of"))
        except DjangoValidationError as exc:
            errors["as_of"] = exc.messages
    return options, errors


def _as_of(value) -> datetime:
    at = parse_datetime(value) if isinstance(value, str) else None
    if at is None:
        raise DjangoValidationError("Enter an ISO 8601 instant, e.g. 2026-03-03T09:00:00Z.")
    try:
        return validate_as_of(at)
    except DjangoValidationError as exc:
        raise DjangoValidationError(exc.message_dict["as_of"]) from None


def _echo(response: dict, options: dict) -> dict:
    if "as_of" in options:
        response["as_of"] = options["as_of"]
    return response


class ConsentCheckViewSet(viewsets.GenericViewSet):
    """The consent decision before a send (DESIGN §3.4), for one address or a batch.

    Needs only `consent.check_consent`, so a sending system can hold a token that can check and
    do nothing else.
    """

    queryset = ContactPointConsent.objects.none()
    serializer_class = SingleConsentCheckSerializer  # OPTIONS describes the single check
    action_permissions = {"create": ["consent.check_consent"]}
    parser_classes = [JSONParser]
    filter_backends = []
    pagination_class = None

    @extend_schema(
        description="One check `{channel, value, purpose, topic?, profile?, explain?, as_of?}` "
        'answers `{allowed, reason, tracking_allowed}`; `{"checks": [...], "explain"?, '
        f'"as_of"?}}` (at most {MAX_CHECKS:,}) answers `{{"results": [...]}}` in the same '
        "order, with a constant number of queries. `explain: true` adds each decision's "
        "`explanation` (the rule that decided, the suppression, the subjects against "
        "`required_level`, the records consulted); `as_of` (an ISO 8601 instant in the past, "
        "echoed) replays the decision from the history as the data stood then. Invalid "
        "checks are 400 with messages keyed `checks[<index>].<field>`. Pure read: nothing is "
        "written.",
        request=PolymorphicProxySerializer(
            component_name="ConsentCheckBody",
            serializers=[SingleConsentCheckSerializer, BulkConsentCheckSerializer],
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
        body = dict(body)
        options, option_errors = _options(body)
        if "checks" in body:
            checks = self._checks(body, option_errors)
            decisions = read_checked_on_failure(lambda: decide_many(checks, **options))
            results = [_answer(decision) for decision in decisions]
            return Response(_echo({"results": results}, options))
        errors = {**_shape_errors(body, prefix=""), **option_errors}
        if errors:
            raise exceptions.ValidationError(errors)
        decision = read_checked_on_failure(lambda: decide(**body, **options))
        return Response(_echo(_answer(decision), options))

    def _checks(self, body: dict, option_errors: dict) -> list[dict]:
        checks = body["checks"]
        errors = {name: ["Unknown field."] for name in body if name != "checks"}
        errors.update(option_errors)
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
