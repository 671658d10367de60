"""Included by config.api_urls at `unsubscribe-headers/`."""

from django.urls import path

from preference_center.api import UnsubscribeHeadersView

urlpatterns = [path("", UnsubscribeHeadersView.as_view(), name="unsubscribe-headers")]
