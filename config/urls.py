from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/v1/", include("config.api_urls")),
    # ESP feedback: django-anymail's tracking webhooks (DESIGN §3.10).
    path("esp/", include("consent.api.esp_feedback")),
    # Public pages: /preferences/, /subscribe/, /unsubscribe/ (DESIGN §3.6).
    path("", include("preference_center.urls")),
]
