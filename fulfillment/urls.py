from django.urls import path

from fulfillment import views

app_name = "fulfillment"

urlpatterns = [
    path("carriers/<str:code>/", views.carrier_webhook, name="carrier_webhook"),
]
