"""Customer communication: every write (queue, send, cancel by link, contact message,
templates, link revocation) goes through here.

Flow: a signal from a lower app (status changed, shipment created, carrier event) or the
periodic delay scan asks :func:`notifications_queue` for notifications → each is rendered
from the client's template (sandboxed) and stored once (unique order × event × announces) →
one django-q2 task per notification runs :func:`notification_send`, which sends it at most
once through Django's e-mail backend.

One module per job: ``links`` (tracking links), ``templates`` (check, save, compile, preview),
``queueing`` (render and store once), ``sending`` (send at most once, retry, flush), ``events``
(what happened → what to send), ``customer`` (cancel by link, messages). Every public name is
importable from ``support.services``.
"""

from support.services.customer import (  # noqa: F401
    CUSTOMER_CANCEL_REASON,
    MAX_MESSAGE_CHARS,
    customer_message_record,
    order_cancel_by_customer,
    today_in,
)
from support.services.events import (  # noqa: F401
    delay_notices_for_products,
    delay_notices_queue,
    delay_request,
    shipment_created_handle,
    status_changes_handle,
    tracking_events_handle,
)
from support.services.links import (  # noqa: F401
    tracking_link_revoke,
    tracking_links_ensure,
    tracking_token,
)
from support.services.queueing import (  # noqa: F401
    NotificationRequest,
    QueueReport,
    notifications_queue,
)
from support.services.sending import (  # noqa: F401
    LOST_AFTER,
    MAX_ATTEMPTS,
    SEND_TASK,
    TRANSIENT_ERRORS,
    backoff,
    is_transient,
    notification_retry,
    notification_send,
    notifications_flush,
)
from support.services.templates import (  # noqa: F401
    Compiled,
    TemplateBook,
    compile_row,
    order_context,
    sample_values,
    shipment_values,
    template_check,
    template_preview,
    template_save,
    template_test_send,
)
