"""Customers of a client: found by the shop's customer id, then by e-mail, or created.

One rule for every channel that brings orders with customer details (file imports, keyed-in
orders, future shop feeds): a customer is the client's customer with the same shop id; failing
that, the oldest one with the same e-mail; failing that, a new one (one per id or e-mail, however
many orders name it).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from django.db import transaction

from clients.models import Client
from core.bulk import insert_rows
from orders.models import Customer


@dataclass(frozen=True, slots=True)
class CustomerDetails:
    """What an order says about its customer (e-mail lower-cased by the caller)."""

    external_id: str = ""
    email: str = ""
    name: str = ""
    tier: str = Customer.Tier.STANDARD


def _existing(client: Client, details: Iterable[CustomerDetails], column: str) -> tuple[dict, dict]:
    """``(by shop id, by e-mail)`` → the existing customer's ``column`` (oldest e-mail match)."""
    details = list(details)
    refs = list({d.external_id for d in details if d.external_id})
    emails = list({d.email for d in details if d.email})
    customers = Customer.objects.filter(client=client).order_by()
    by_ref = (
        dict(customers.filter(external_id__anyof=refs).values_list("external_id", column))
        if refs
        else {}
    )
    by_email: dict[str, object] = {}
    if emails:
        for email, value in (
            customers.filter(email__anyof=emails).order_by("-id").values_list("email", column)
        ):
            by_email[email] = value  # the oldest match wins
    return by_ref, by_email


def customer_tiers(
    *, client: Client, details: Iterable[CustomerDetails]
) -> dict[tuple[str, str], str]:
    """The tier of each existing customer these details match: ``("ref", id)`` and
    ``("email", e-mail)`` keys. Reads only."""
    by_ref, by_email = _existing(client, details, "tier")
    tiers = {("ref", ref): tier for ref, tier in by_ref.items()}
    tiers.update({("email", email): tier for email, tier in by_email.items()})
    return tiers


def customers_match_or_create(*, client: Client, details: Sequence[CustomerDetails]) -> list[int]:
    """The customer id for each of ``details`` (same order): matched by shop id, then e-mail;
    the rest created in one insert (one customer per shop id or e-mail). Runs in the caller's
    transaction (or its own); locks nothing (the import's orders are created in the same
    transaction, so a customer and its orders commit together)."""
    with transaction.atomic():
        by_ref, by_email = _existing(client, details, "id")
        found: list[int | None] = []
        new_rows: list[tuple] = []
        waiting: list[tuple[int, int]] = []  # (position in details, index of its new customer)
        new_at: dict[tuple[str, str], int] = {}
        for position, wanted in enumerate(details):
            ref, email = wanted.external_id, wanted.email
            pk = (by_ref.get(ref) if ref else None) or (by_email.get(email) if email else None)
            found.append(pk)
            if pk is not None:
                continue
            key = ("ref", ref) if ref else ("email", email) if email else None
            at = new_at.get(key) if key else None
            if at is None:
                at = len(new_rows)
                new_rows.append((client.pk, ref, email, wanted.name, wanted.tier))
                if ref:
                    new_at[("ref", ref)] = at
                if email:
                    new_at[("email", email)] = at
            waiting.append((position, at))
        if new_rows:
            ids = insert_rows(
                Customer, ("client_id", "external_id", "email", "name", "tier"), new_rows
            )
            for position, at in waiting:
                found[position] = ids[at]
    return found  # type: ignore[return-value]


def customer_match_or_create(
    *,
    client: Client,
    external_id: str = "",
    email: str = "",
    name: str = "",
    tier: str = Customer.Tier.STANDARD,
) -> Customer:
    """One customer for a keyed-in order, by the same rule as imports."""
    details = CustomerDetails(external_id, email.strip().lower(), name or email, tier)
    (pk,) = customers_match_or_create(client=client, details=[details])
    return Customer.objects.get(pk=pk)
