from django.contrib import admin


class BPOAdminSite(admin.AdminSite):
    site_header = "BPO Back-Office"
    site_title = "BPO Back-Office"
    index_title = "Work the backlog"
    # The model list beside every page took a quarter of a 1280 px screen from the queue;
    # the home page and the breadcrumbs lead everywhere instead.
    enable_nav_sidebar = False

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # Bulk deletion of business records is never allowed: orders, stock and tickets are
        # cancelled or closed through services so that the timeline and ledger stay whole.
        self.disable_action("delete_selected")
