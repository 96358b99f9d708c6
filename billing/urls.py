from django.urls import path

from billing import views

app_name = "billing"

urlpatterns = [
    path("payments/<slug:provider>/", views.payment_webhook, name="payment_webhook"),
]
