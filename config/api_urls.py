"""REST API v1 (DESIGN.md §4): the router, the OpenAPI schema and the interactive docs."""

from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView
from rest_framework.routers import DefaultRouter

from consent.api.configuration import (
    ComplianceProfileViewSet,
    DataPolicyViewSet,
    PurposeViewSet,
    TopicViewSet,
)
from consent.api.consent_checks import ConsentCheckViewSet
from consent.api.contact_points import ContactPointConsentViewSet
from consent.api.data_consents import DataConsentViewSet
from consent.api.ledger import LedgerVerifyView
from consent.api.loads import ConsentLoadViewSet
from consent.api.notices import NoticeViewSet
from consent.api.reconsent import ReconsentViewSet
from consent.api.requests import DataSubjectRequestViewSet
from consent.api.subjects import ContactViewSet, LeadViewSet
from consent.api.webhooks import WebhookEndpointViewSet
from marketing_lists.api import MarketingListViewSet
from subjects.api import AccountViewSet

router = DefaultRouter()
# First: URL patterns are tried in order, and a consent check (the hot path, called before
# every send) resolved after every other route took 100 µs of regex matching per request.
router.register("consent-checks", ConsentCheckViewSet, basename="consentcheck")
router.register("accounts", AccountViewSet, basename="account")
router.register("leads", LeadViewSet, basename="lead")
router.register("contacts", ContactViewSet, basename="contact")
router.register("data-policies", DataPolicyViewSet, basename="datapolicy")
router.register("data-consents", DataConsentViewSet, basename="dataconsent")
router.register("compliance-profiles", ComplianceProfileViewSet, basename="complianceprofile")
router.register("purposes", PurposeViewSet, basename="purpose")
router.register("topics", TopicViewSet, basename="topic")
router.register(
    "contact-point-consents", ContactPointConsentViewSet, basename="contactpointconsent"
)
router.register("marketing-lists", MarketingListViewSet, basename="marketinglist")
router.register("consent-loads", ConsentLoadViewSet, basename="consentload")
router.register("data-subject-requests", DataSubjectRequestViewSet, basename="datasubjectrequest")


router.register("webhooks", WebhookEndpointViewSet, basename="webhookendpoint")
router.register("notices", NoticeViewSet, basename="notice")
router.register("reconsent", ReconsentViewSet, basename="reconsent")

urlpatterns = [
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
    # The split view serves its start-up script as a file: no inline script (CSP).
    path("docs/", SpectacularSwaggerSplitView.as_view(url_name="api-schema"), name="api-docs"),
    path("unsubscribe-headers/", include("preference_center.api_urls")),
    path("ledger/verify/", LedgerVerifyView.as_view(), name="ledger-verify"),
    path("", include(router.urls)),
]
