from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView

urlpatterns = [
    # The product is the admin: the bare host leads there, never to a 404.
    path("", RedirectView.as_view(url="/admin/", permanent=False)),
    path("admin/", admin.site.urls),
    path("api/v1/", include("config.api_urls")),
    # ESP feedback: django-anymail's tracking webhooks (DESIGN §3.10).
    path("esp/", include("consent.api.esp_feedback")),
    # Public pages: /preferences/, /subscribe/, /unsubscribe/ (DESIGN §3.6).
    path("", include("preference_center.urls")),
]
