from django.contrib import admin
from django.templatetags.static import static
from django.urls import include, path
from django.views.generic import RedirectView


class FaviconRedirect(RedirectView):
    """Browsers ask for /favicon.ico on every page that names none (e-mail links, JSON)."""

    permanent = False

    def get_redirect_url(self, *args, **kwargs):
        return static("bpo/favicon.svg")


urlpatterns = [
    path("", RedirectView.as_view(pattern_name="admin:index", permanent=False)),
    path("favicon.ico", FaviconRedirect.as_view()),
    path("admin/", admin.site.urls),
    path("webhooks/", include("fulfillment.urls")),
    path("webhooks/", include("billing.urls")),
    path("", include("support.urls")),
]
