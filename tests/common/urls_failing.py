"""A view that fails with the query string in its exception (tests of common.redaction)."""

from django.urls import path


def failing_view(request):
    lookup = request.GET.get("last_name", "")
    raise ValueError(f"No contact named {lookup!r} with phone {request.GET.get('phone')}")


urlpatterns = [path("api/v1/contacts/failing/", failing_view)]
