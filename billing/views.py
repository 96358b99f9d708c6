"""The payment provider webhook: ``POST /webhooks/payments/<provider>/`` with signed JSON.

Checked by the product's one signed-webhook helper (``core.webhooks.receive``: POST only,
size, JSON, ``X-Payment-Timestamp`` within 5 minutes, ``X-Payment-Signature`` = ``sha256=``
HMAC-SHA256 of ``"<timestamp>." + body`` with the provider's secret; unsigned, forged, stale
and replayed calls are refused). This view only knows payments: the body is
``{"reference", "order_number" | "invoice_number", "amount", "currency", "status",
"method"?}``; a provider's call can only touch its own client's orders; a repeated event is
acknowledged (200) and stored once.
"""

from __future__ import annotations

from django.http import JsonResponse
from django.views.decorators.csrf import csrf_exempt

from billing.exceptions import PaymentRejected
from billing.models import Invoice, Payment, PaymentProvider
from billing.services import payment_record
from core.webhooks import WebhookRejected, WebhookSpec, receive, require_post
from orders.models import Order

PAYMENT_WEBHOOK = WebhookSpec(
    signature_header="X-Payment-Signature",
    timestamp_header="X-Payment-Timestamp",
    max_body_bytes=64 * 1024,
)


@csrf_exempt
def payment_webhook(request, provider: str):
    try:
        require_post(request)
        account = (
            PaymentProvider.objects.select_related("client")
            .filter(code=provider, active=True)
            .first()
        )
        if account is None:
            raise WebhookRejected(404, "Unknown payment provider.")
        payload = receive(request, spec=PAYMENT_WEBHOOK, secrets=[account.webhook_secret])
        data = payload.data
        if not isinstance(data, dict):
            raise WebhookRejected(400, "Send one JSON object.")
        reference = str(data.get("reference") or "").strip()
        if not reference:
            raise WebhookRejected(400, "reference is required.")
        invoice = order = None
        client = account.client
        if data.get("invoice_number"):
            invoice = Invoice.objects.filter(
                client=client, number=str(data["invoice_number"])
            ).first()
            if invoice is None:
                raise WebhookRejected(404, "Unknown invoice.")
        else:
            order = Order.objects.filter(
                client=client, number=str(data.get("order_number"))
            ).first()
            if order is None:
                raise WebhookRejected(404, "Unknown order.")
        status = str(data.get("status") or Payment.Status.CAPTURED)
        try:
            payment, created = payment_record(
                client=client,
                order=order,
                invoice=invoice,
                amount=data.get("amount"),
                currency=str(data.get("currency") or ""),
                method=str(data.get("method") or Payment.Method.CARD),
                status=status,
                provider=account.code,
                provider_reference=reference,
                source=Payment.Source.WEBHOOK,
            )
        except PaymentRejected as exc:
            raise WebhookRejected(400, str(exc)) from exc
    except WebhookRejected as exc:
        return exc.response()
    return JsonResponse({"payment": payment.pk, "duplicate": not created}, status=200)
