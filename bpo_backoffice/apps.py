from django.contrib.admin.apps import AdminConfig


class BPOAdminConfig(AdminConfig):
    """Replaces django.contrib.admin so that @admin.register uses our branded site."""

    default_site = "bpo_backoffice.admin.BPOAdminSite"
