"""REST API v1 (DESIGN.md §4): the router, the OpenAPI schema and the interactive docs."""

from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework.routers import DefaultRouter

from consent.api import ContactViewSet, DataConsentViewSet, DataPolicyViewSet, LeadViewSet
from subjects.api import AccountViewSet

router = DefaultRouter()
router.register("accounts", AccountViewSet, basename="account")
router.register("leads", LeadViewSet, basename="lead")
router.register("contacts", ContactViewSet, basename="contact")
router.register("data-policies", DataPolicyViewSet, basename="datapolicy")
router.register("data-consents", DataConsentViewSet, basename="dataconsent")

urlpatterns = [
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    path("", include(router.urls)),
]
