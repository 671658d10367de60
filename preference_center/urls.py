"""The public pages (DESIGN §3.6); the paths are part of the public contract."""

from django.urls import path

from preference_center import views

app_name = "preference_center"

urlpatterns = [
    path("preferences/", views.link_request, name="link_request"),
    path("preferences/<str:token>/", views.manage, name="manage"),
    path("preferences/<str:token>/receipt/", views.receipt, name="receipt"),
    path("subscribe/confirm/<str:token>/", views.confirm, name="confirm"),
    path("subscribe/<slug:profile_slug>/", views.subscribe, name="subscribe"),
    path("unsubscribe/<str:token>/", views.unsubscribe, name="unsubscribe"),
    path(".well-known/gpc.json", views.gpc_support, name="gpc_support"),
]
