"""The production URLs plus the benchmark's floor endpoints (tests/bench/http_floors.py)."""

from django.urls import path

from config.urls import urlpatterns as production
from tests.bench import http_floors

urlpatterns = [
    path("bench-floor/trivial/", http_floors.trivial),
    path("bench-floor/check/", http_floors.check),
    path("bench-floor/bulk-check/", http_floors.bulk_check),
    path("bench-floor/audience.csv", http_floors.audience_csv),
    *production,
]
