"""The customer's public pages (no login; a signed link is the key)."""

from django.urls import path

from support import views

app_name = "support"

urlpatterns = [
    path("track/<str:token>/", views.tracking, name="tracking"),
    path("track/<str:token>/cancel/", views.cancel, name="cancel"),
    path("webhooks/inbound-email/", views.inbound_email, name="inbound_email"),
]
