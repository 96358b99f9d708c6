from django.core.paginator import Paginator
from django.utils.functional import cached_property


class BoundedCountPaginator(Paginator):
    """Counts at most ``COUNT_LIMIT`` rows, so a changelist over a million rows stays fast.

    ``COUNT(*)`` over a big backlog costs more than rendering the page; past the limit the
    page count is capped and the user narrows the list with filters instead.
    """

    COUNT_LIMIT = 10_000

    @cached_property
    def count(self) -> int:
        qs = self.object_list
        if hasattr(qs, "query"):
            return qs.order_by()[: self.COUNT_LIMIT + 1].count()
        return super().count

    @property
    def is_capped(self) -> bool:
        return self.count > self.COUNT_LIMIT
