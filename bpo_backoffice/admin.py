from django.contrib import admin


class BPOAdminSite(admin.AdminSite):
    site_header = "BPO Back-Office"
    site_title = "BPO Back-Office"
    index_title = "Today's work"
    index_template = "admin/bpo_index.html"
    # The model list beside every page took a quarter of a 1280 px screen from the queue;
    # the home page and the breadcrumbs lead everywhere instead.
    enable_nav_sidebar = False

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # Bulk deletion of business records is never allowed: orders, stock and tickets are
        # cancelled or closed through services so that the timeline and ledger stay whole.
        self.disable_action("delete_selected")

    def index(self, request, extra_context=None):
        """The home page: the panels the apps add (``core.signals.home_page_panels``: the
        agent's work, queues, due today, notes …), then the list of apps."""
        from core.signals import home_page_panels

        panels = [
            panel
            for _receiver, panel in home_page_panels.send(sender=type(self), request=request)
            if panel
        ]
        panels.sort(key=lambda p: p.get("order", 100))
        return super().index(request, {"panels": panels, **(extra_context or {})})
