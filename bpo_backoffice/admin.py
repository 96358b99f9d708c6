from django.contrib import admin


class BPOAdminSite(admin.AdminSite):
    site_header = "BPO Back-Office"
    site_title = "BPO Back-Office"
    index_title = "Work the backlog"

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # Bulk deletion of business records is never allowed: orders, stock and tickets are
        # cancelled or closed through services so that the timeline and ledger stay whole.
        self.disable_action("delete_selected")
