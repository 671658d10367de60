from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/v1/", include("config.api_urls")),
    # Public pages: /preferences/, /subscribe/, /unsubscribe/ (DESIGN §3.6).
    path("", include("preference_center.urls")),
]
