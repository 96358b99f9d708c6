"""Who may change billing settings: provider secrets (admins), credit limits (supervisors)."""

from __future__ import annotations

from decimal import Decimal

from django.urls import reverse

from billing.models import PaymentProvider
from clients.models import Membership


def test_provider_secret_is_write_only_and_admin_only(client, billing_world, make_user):
    provider = PaymentProvider.objects.create(
        client=billing_world["prepaid"], code="paynow", name="PayNow", webhook_secret="s3cret"
    )
    sup = make_user("sup", clients=[billing_world["prepaid"]], role=Membership.Role.SUPERVISOR)
    client.force_login(sup)
    url = reverse("admin:billing_paymentprovider_change", args=[provider.pk])
    assert client.get(url).status_code in (403, 404)
    admin = make_user("root", is_superuser=True, is_staff=True)
    client.force_login(admin)
    page = client.get(url)
    assert page.status_code == 200 and b"s3cret" not in page.content
    response = client.post(
        url,
        {
            "client": provider.client_id,
            "code": "paynow",
            "name": "PayNow 2",
            "webhook_secret": "",
            "active": "on",
        },
    )
    assert response.status_code == 302
    provider.refresh_from_db()
    assert (provider.name, provider.webhook_secret) == ("PayNow 2", "s3cret")


def test_agent_cannot_change_a_credit_limit(client, billing_world, make_user, make_customer):
    customer = make_customer(billing_world["terms"], credit_limit=Decimal("100"))
    agent = make_user("agent", clients=[billing_world["terms"]], role=Membership.Role.AGENT)
    client.force_login(agent)
    url = reverse("admin:orders_customer_change", args=[customer.pk])
    client.post(
        url,
        {
            "name": customer.name,
            "email": customer.email,
            "tier": "standard",
            "credit_limit": "99999",
            "external_id": "",
        },
    )
    customer.refresh_from_db()
    assert customer.credit_limit == Decimal("100")
