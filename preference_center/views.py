"""The public pages (DESIGN §3.6): link request, manage, sign-up, confirmation, unsubscribe.

Thin shells: read the token or the form, call `preference_center.preferences` for what to show
and `consent.customer` for every write, render. GET and HEAD never write (mail scanners
prefetch links). Every invalid, expired, cross-use or dangling token gets the same 404 page.
"""

import json
import re
from functools import wraps
from ipaddress import ip_address as parse_ip
from urllib.parse import urlencode

from django.conf import settings
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.middleware.csrf import CsrfViewMiddleware
from django.shortcuts import redirect, render
from django.utils import timezone, translation
from django.utils.cache import add_never_cache_headers, patch_cache_control
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods, require_safe

from common.audit import Evidence, Source
from consent.addresses import is_suppressed
from consent.models import Channel, ComplianceProfile, ContactPointConsent, Notice, Purpose, Topic
from consent.reports.receipts import FORMATS as RECEIPT_FORMATS
from consent.reports.receipts import receipt as consent_receipt
from consent.services.customer import customer_choices_record, double_opt_in_required
from preference_center import dispatch, gpc, ratelimit, tasks
from preference_center.forms import LinkRequestForm, SignUpForm
from preference_center.preferences import (
    changes_from_form,
    commercial_purposes,
    preference_rows,
    sign_up_choices,
    unsubscribe_choices,
)
from preference_center.tokens import AddressLink, InvalidLink, SignUpRequest, UnsubscribeLink

LANGUAGE_PARAM = "lang"
CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f]")
PROFILE_SLUG = re.compile(r"[-a-zA-Z0-9_]{1,50}")  # ComplianceProfile.slug (a SlugField)
USER_AGENT_MAX_LENGTH = 1000
ONE_CLICK_FIELD, ONE_CLICK_VALUE = "List-Unsubscribe", "One-Click"
OPT_IN_PARAM, OPT_IN_MAILED, OPT_IN_REFUSED = "opt_in", "mailed", "refused"
Status = ContactPointConsent.Status
page_methods = require_http_methods(["GET", "HEAD", "POST"])


# ---------------------------------------------------------------------------------------------
# Request plumbing


def public_page(view=None, *, token: bool = False):
    """Language from `?lang=` (before Accept-Language); a private, uncached answer.

    Token pages (`token=True`) also send `Referrer-Policy: no-referrer`, so the link never
    leaves in a Referer header, and are exempt from the CSRF middleware: they run the same
    check themselves (`csrf_refusal`), because the browser posts their forms with `Origin: null`.
    """

    def decorate(view):
        @wraps(view)
        def wrapped(request: HttpRequest, *args, **kwargs) -> HttpResponse:
            language = _requested_language(request)
            if language:
                translation.activate(language)
                request.LANGUAGE_CODE = language
            response = view(request, *args, **kwargs)
            add_never_cache_headers(response)  # Cache-Control: ... no-store ...
            response["Referrer-Policy"] = "no-referrer" if token else "same-origin"
            response["X-Robots-Tag"] = "noindex, nofollow"
            return response

        return csrf_exempt(wrapped) if token else wrapped

    return decorate(view) if view is not None else decorate


def _requested_language(request: HttpRequest) -> str | None:
    code = request.GET.get(LANGUAGE_PARAM, "")
    try:
        return translation.get_supported_language_variant(code) if code else None
    except LookupError:
        return None


def _language_query(request: HttpRequest, **params) -> str:
    language = _requested_language(request)
    if language:
        params[LANGUAGE_PARAM] = language
    return f"?{urlencode(params)}" if params else ""


def client_ip(request: HttpRequest) -> str | None:
    """The client IP: PREFERENCE_CLIENT_IP_HEADER (its last entry) if set, else REMOTE_ADDR."""
    header = settings.PREFERENCE_CLIENT_IP_HEADER
    raw = request.META.get(header, "") if header else ""
    candidate = raw.split(",")[-1].strip() or request.META.get("REMOTE_ADDR", "")
    try:
        return str(parse_ip(candidate))
    except ValueError:
        return None


def user_agent(request: HttpRequest) -> str:
    """The client's User-Agent, kept as evidence: control characters dropped (PostgreSQL refuses
    a NUL byte in text, and a line break would forge lines in the evidence text)."""
    raw = request.META.get("HTTP_USER_AGENT", "")
    return CONTROL_CHARACTERS.sub("", raw)[:USER_AGENT_MAX_LENGTH]


def _render(request, template: str, context: dict | None = None, *, status: int = 200):
    context = context or {}
    profile = context.get("profile")
    if profile is not None and "notice" not in context:
        # The current notice in the visitor's language (else English), linked in the footer.
        language = (translation.get_language() or "en")[:2]
        context["notice"] = Notice.objects.current_for(profile=profile, language=language)
    return render(request, f"preference_center/{template}.html", context, status=status)


def _invalid_link(request: HttpRequest) -> HttpResponse:
    return _render(request, "invalid_link", status=404)


def _too_many_requests(request: HttpRequest, profile: ComplianceProfile | None) -> HttpResponse:
    response = _render(request, "rate_limited", {"profile": profile}, status=429)
    response["Retry-After"] = str(ratelimit.retry_after())
    return response


def csrf_refusal(request: HttpRequest) -> HttpResponse | None:
    """Django's CSRF check (cookie + form token) on a token page's POST; None if it passes.

    Under `Referrer-Policy: no-referrer` a browser sends its same-origin form posts with
    `Origin: null` (Fetch, "serialize a request origin") and no Referer, which Django's origin
    and (HTTPS) Referer checks would refuse. The page's own origin stands in for that `null`;
    the token check is unchanged, and a forged post would need the link's token as well.
    """
    if request.META.get("HTTP_ORIGIN") == "null":
        request.META["HTTP_ORIGIN"] = f"{request.scheme}://{request.get_host()}"
    return CsrfViewMiddleware(lambda _: HttpResponse()).process_view(request, None, (), {})


def _ids(values: list[str]) -> set[int]:
    return {int(v) for v in values if v.isascii() and v.isdigit() and len(v) < 19}


# ---------------------------------------------------------------------------------------------
# GET|POST /preferences/ — ask for a manage link


@public_page
@page_methods
def link_request(request: HttpRequest) -> HttpResponse:
    profile = _profile_for_link_request(request)
    if profile is None:
        return _invalid_link(request)
    form = LinkRequestForm(request.POST if request.method == "POST" else None)
    context = {"profile": profile, "form": form}
    if request.method != "POST":
        return _render(request, "link_request", context)
    if not ratelimit.allow_client(form="link_request", ip_address=client_ip(request)):
        return _too_many_requests(request, profile)
    if not form.is_valid():
        return _render(request, "link_request", context)
    address = form.cleaned_data["email"]
    # The same work and the same answer for every address: the background job decides whether
    # the address is ours and mails it only then (issue 15 #13, #15).
    if ratelimit.allow_mail(form="link_request", address=address):
        dispatch.send_later(
            tasks.send_manage_link, profile.pk, Channel.EMAIL, address, translation.get_language()
        )
    return _render(request, "link_request_sent", {**context, "email": address})


def _profile_for_link_request(request: HttpRequest) -> ComplianceProfile | None:
    slug = request.GET.get("profile")
    profiles = ComplianceProfile.objects.all()
    if not slug:
        return profiles.filter(is_default=True).first()
    # Only a well-formed slug reaches the database (PostgreSQL refuses a NUL byte with an error).
    return profiles.filter(slug=slug).first() if PROFILE_SLUG.fullmatch(slug) else None


# ---------------------------------------------------------------------------------------------
# GET|POST /preferences/<token>/ — manage


@public_page(token=True)
@page_methods
def manage(request: HttpRequest, token: str) -> HttpResponse:
    try:
        link = AddressLink.loads(token)
        profile = ComplianceProfile.objects.get(pk=link.profile_id)
    except (InvalidLink, ComplianceProfile.DoesNotExist):
        return _invalid_link(request)
    if request.method == "POST" and (refusal := csrf_refusal(request)):
        return refusal
    context = {
        "profile": profile,
        "channel": link.channel,
        "address": link.value,
        "opt_out_only": link.opt_out_only,
    }
    if is_suppressed(link.channel, link.value):
        return _render(request, "manage", {**context, "suppressed": True})
    if gpc.gpc_signal(request):  # tracking shown off whatever is stored; saving records it
        context.update(gpc=True, gpc_tracking=gpc.tracking_purposes(profile))
    rows = preference_rows(profile=profile, channel=link.channel, value=link.value)
    if request.method == "POST":
        return _manage_save(request, link, profile, rows, context)
    context.update(
        rows=rows,
        saved="saved" in request.GET,
        opt_in=request.GET.get(OPT_IN_PARAM, ""),
        manage_token=token,
    )
    return _render(request, "manage", context)


# GET /preferences/<token>/receipt/ — the customer's consent receipts


@public_page(token=True)
@require_http_methods(["GET", "HEAD"])
def receipt(request: HttpRequest, token: str) -> HttpResponse:
    """Every consent record of the link's address in its profile, as receipts (`?format=`
    kantara, the default, or iso27560): the same token as the manage page, nothing else."""
    try:
        link = AddressLink.loads(token)
        profile = ComplianceProfile.objects.get(pk=link.profile_id)
    except (InvalidLink, ComplianceProfile.DoesNotExist):
        return _invalid_link(request)
    if link.opt_out_only:  # an unsubscribe page's link proves nothing: no consent history
        return _invalid_link(request)
    output = request.GET.get("format", "kantara")
    if output not in RECEIPT_FORMATS:
        output = "kantara"
    records = (
        ContactPointConsent.objects.for_address(link.channel, link.value)
        .filter(purpose__profile=profile)
        .select_related("purpose__profile", "topic")
        .order_by("purpose_id", "topic_id", "id")
    )
    body = [consent_receipt(record, format=output) for record in records]
    response = HttpResponse(
        json.dumps(body, indent=2, ensure_ascii=False, default=str),
        content_type="application/ld+json" if output == "iso27560" else "application/json",
    )
    response["Content-Disposition"] = f'attachment; filename="consent-receipt-{output}.json"'
    return response


def _manage_save(request, link: AddressLink, profile, rows, context) -> HttpResponse:
    everything_off = request.POST.get("action") == "unsubscribe_all"
    choices = changes_from_form(
        rows,
        purpose_ids=set() if everything_off else _ids(request.POST.getlist("purpose")),
        topic_ids=set() if everything_off else _ids(request.POST.getlist("topic")),
    )
    _gpc_record(request, profile, link.channel, link.value, page="manage")
    params = {"saved": 1}
    if link.opt_out_only:
        choices, params[OPT_IN_PARAM] = _opt_outs_only(request, link, profile, choices)
    if choices:
        try:
            customer_choices_record(
                profile=profile,
                channel=link.channel,
                value=link.value,
                choices=choices,
                evidence=_evidence(
                    request, Source.PREFERENCE_CENTER, "changed in the preference center"
                ),
            )
        except ValidationError:  # suppressed meanwhile: nothing was written
            return _render(request, "manage", {**context, "suppressed": True})
    return redirect(request.path + _language_query(request, **params))


def _opt_outs_only(request, link: AddressLink, profile, choices: list) -> tuple[list, str]:
    """An opt-out-only link (from an unsubscribe page) writes the opt-outs it was given and no
    opt-in: whoever holds it may not hold the address. Asked for an opt-in, it mails a fresh
    manage link to the address instead (e-mail), or says that it cannot (other channels)."""
    opt_outs = [choice for choice in choices if choice.status == Status.OPTED_OUT]
    if len(opt_outs) == len(choices):
        return opt_outs, ""
    if link.channel != Channel.EMAIL:
        return opt_outs, OPT_IN_REFUSED
    if ratelimit.allow_mail(form="manage_opt_in", address=link.value):
        dispatch.send_later(
            tasks.send_manage_link,
            profile.pk,
            link.channel,
            link.value,
            translation.get_language(),
            False,
        )
    return opt_outs, OPT_IN_MAILED


def _gpc_record(request, profile, channel: str, value: str, *, page: str) -> None:
    """With `Sec-GPC: 1`, the tracking opt-out (source `gpc`) of the address a POST is about."""
    if gpc.gpc_signal(request):
        gpc.gpc_record(
            profile=profile,
            channel=channel,
            value=value,
            page=page,
            ip_address=client_ip(request),
            user_agent=user_agent(request),
        )


# ---------------------------------------------------------------------------------------------
# GET|POST /subscribe/<profile_slug>/ — sign-up


@public_page
@page_methods
def subscribe(request: HttpRequest, profile_slug: str) -> HttpResponse:
    profile = ComplianceProfile.objects.filter(slug=profile_slug).first()
    if profile is None:
        return _invalid_link(request)
    purposes = commercial_purposes(profile)
    form = SignUpForm(
        request.POST if request.method == "POST" else None,
        purpose_ids=[purpose.pk for purpose in purposes],
        topic_ids=[topic.pk for purpose in purposes for topic in purpose.topics.all()],
    )
    context = {"profile": profile, "form": form, "purposes": purposes}
    if request.method != "POST":
        return _render(request, "subscribe", context)
    if not ratelimit.allow_client(form="sign_up", ip_address=client_ip(request)):
        return _too_many_requests(request, profile)
    if not form.is_valid():
        return _render(request, "subscribe", {**context, "ticked": _ticked(request)})
    _sign_up(request, profile, purposes, form.cleaned_data["email"], form.cleaned_data)
    # The same answer whatever happened: known, new, suppressed.
    return _render(request, "subscribe_done", {"profile": profile})


def _ticked(request: HttpRequest) -> dict[str, set[int]]:
    return {
        "purposes": _ids(request.POST.getlist("purpose")),
        "topics": _ids(request.POST.getlist("topic")),
    }


def _sign_up(request, profile, purposes: list[Purpose], address: str, data: dict) -> None:
    if is_suppressed(Channel.EMAIL, address):
        return
    purpose_ids, topic_ids = set(data["purpose"]), set(data["topic"])
    if double_opt_in_required(profile=profile, channel=Channel.EMAIL, value=address):
        sign_up = SignUpRequest(
            profile.pk,
            Channel.EMAIL,
            address,
            tuple(sorted(purpose_ids)),
            tuple(sorted(topic_ids)),
            timezone.now(),
            client_ip(request),
            user_agent(request),
        )
        # Past the per-address mail limit the answer is the same; only no further mail is sent.
        if ratelimit.allow_mail(form="sign_up", address=address):
            dispatch.send_later(
                tasks.send_sign_up_confirmation, sign_up.payload(), translation.get_language()
            )
        return  # nothing is written before the confirmation, GPC included (it applies there)
    _gpc_record(request, profile, Channel.EMAIL, address, page="sign-up")
    customer_choices_record(
        profile=profile,
        channel=Channel.EMAIL,
        value=address,
        choices=sign_up_choices(purposes, purpose_ids=purpose_ids, topic_ids=topic_ids),
        evidence=_evidence(
            request,
            Source.FORM,
            "signed up",
            "Signed up on the public sign-up form (no double opt-in required).",
        ),
        create_lead=True,
    )


# ---------------------------------------------------------------------------------------------
# GET|POST /subscribe/confirm/<token>/ — double opt-in


@public_page(token=True)
@page_methods
def confirm(request: HttpRequest, token: str) -> HttpResponse:
    try:
        sign_up = SignUpRequest.loads(token)
        profile = ComplianceProfile.objects.get(pk=sign_up.profile_id)
    except (InvalidLink, ComplianceProfile.DoesNotExist):
        return _invalid_link(request)
    if request.method == "POST" and (refusal := csrf_refusal(request)):
        return refusal
    choices = sign_up_choices(
        commercial_purposes(profile),
        purpose_ids=set(sign_up.purpose_ids),
        topic_ids=set(sign_up.topic_ids),
    )
    if not choices:  # everything it named is gone
        return _invalid_link(request)
    context = {"profile": profile, "address": sign_up.value, "choices": choices}
    if request.method != "POST":
        return _render(request, "confirm", context)
    if not is_suppressed(sign_up.channel, sign_up.value):
        _gpc_record(request, profile, sign_up.channel, sign_up.value, page="confirmation")
        customer_choices_record(
            profile=profile,
            channel=sign_up.channel,
            value=sign_up.value,
            choices=choices,
            evidence=_evidence(
                request, Source.DOUBLE_OPT_IN, "double opt-in confirmed", sign_up_evidence(sign_up)
            ),
            create_lead=True,
        )
    manage_token = AddressLink(profile.pk, sign_up.channel, sign_up.value).dumps()
    return _render(request, "confirm_done", {**context, "manage_token": manage_token})


def sign_up_evidence(sign_up: SignUpRequest) -> str:
    """The first step's evidence, kept with the confirmed records (English: it is for the DPO)."""
    return (
        f"Sign-up requested {sign_up.requested_at:%Y-%m-%d %H:%M:%S} UTC "
        f"from IP {sign_up.ip_address or 'unknown'}, "
        f"user agent: {sign_up.user_agent or 'unknown'}. "
        "Confirmed through the link e-mailed to the address (double opt-in); this record's "
        "IP address and user agent are those of the confirmation."
    )


# ---------------------------------------------------------------------------------------------
# GET|POST /unsubscribe/<token>/ — RFC 8058 one-click unsubscribe


@public_page(token=True)  # the RFC 8058 body alone skips the CSRF check
@page_methods
def unsubscribe(request: HttpRequest, token: str) -> HttpResponse:
    try:
        link = UnsubscribeLink.loads(token)
        purpose = Purpose.objects.select_related("profile").get(
            pk=link.purpose_id, profile_id=link.profile_id
        )
        topic = Topic.objects.get(pk=link.topic_id, purpose=purpose) if link.topic_id else None
    except (InvalidLink, Purpose.DoesNotExist, Topic.DoesNotExist):
        return _invalid_link(request)
    one_click = request.method == "POST" and request.POST.get(ONE_CLICK_FIELD) == ONE_CLICK_VALUE
    if request.method == "POST" and not one_click and (refusal := csrf_refusal(request)):
        return refusal
    profile = purpose.profile
    context = {
        "profile": profile,
        "address": link.value,
        "purpose": purpose,
        "topic": topic,
        "scope": _scope(profile, topic),
        # Opt-out only: an unsubscribe link is no proof of holding the address (issue 15 #4).
        "manage_token": AddressLink(
            profile.pk, link.channel, link.value, opt_out_only=True
        ).dumps(),
    }
    if request.method != "POST":
        return _render(request, "unsubscribe", context)
    if not is_suppressed(link.channel, link.value):  # an erased address stays a bare hash
        _gpc_record(request, profile, link.channel, link.value, page="unsubscribe")
        customer_choices_record(
            profile=profile,
            channel=link.channel,
            value=link.value,
            choices=unsubscribe_choices(profile=profile, purpose=purpose, topic=topic),
            evidence=_evidence(
                request,
                Source.ONE_CLICK_UNSUBSCRIBE,
                "one-click unsubscribe (RFC 8058)" if one_click else "unsubscribe link",
            ),
        )
    return _render(request, "unsubscribe_done", context)


def _scope(profile: ComplianceProfile, topic: Topic | None) -> str:
    scope = profile.unsubscribe_scope
    if scope == ComplianceProfile.UnsubscribeScope.TOPIC and topic is None:
        return ComplianceProfile.UnsubscribeScope.PURPOSE
    return scope


def _evidence(request, source: str, reason: str, description: str = "") -> Evidence:
    """What a customer's own change on these pages is recorded with: no actor, their request's
    IP and user agent."""
    return Evidence(
        source=source,
        reason=reason,
        description=description,
        ip_address=client_ip(request),
        user_agent=user_agent(request),
    )


# ---------------------------------------------------------------------------------------------
# GET /.well-known/gpc.json — this site honours Global Privacy Control


@require_safe
def gpc_support(request: HttpRequest) -> HttpResponse:
    response = JsonResponse({"gpc": True, "lastUpdate": gpc.LAST_UPDATE.isoformat()})
    patch_cache_control(response, public=True, max_age=86400)
    return response
