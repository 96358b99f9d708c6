"""The two working roles and the model permissions each gets, in one declarative table.

Groups "Agent" and "Supervisor" are created by a data migration and re-synced after every
migrate, so adding a model or permission here is all it takes to grant it. Which *clients* a
user may touch is decided by Membership (see scoping.py), not by these permissions.
"""

from __future__ import annotations

from django.contrib.auth.models import Group, Permission

AGENT = "Agent"
SUPERVISOR = "Supervisor"

_AGENT_PERMS: dict[str, list[str]] = {
    "clients.client": ["view"],
    "inventory.product": ["view"],
    "inventory.warehouse": ["view"],
    "inventory.stocklevel": ["view"],
    "inventory.stockmovement": ["view"],
    "inventory.supplier": ["view"],
    "inventory.supplierproduct": ["view"],
    "inventory.reorderrule": ["view"],
    "inventory.purchaseorder": ["view"],
    "inventory.purchaseorderline": ["view"],
    "inventory.replenishmentrun": ["view"],
    "orders.customer": ["view", "add", "change"],
    "orders.order": ["view", "add", "change"],
    "orders.orderline": ["view"],
    "orders.orderevent": ["view", "add"],
    "fulfillment.pickwave": ["view", "add", "pack_orders"],
    "fulfillment.shipment": ["view", "add"],
    "fulfillment.shipmentline": ["view"],
    "fulfillment.trackingevent": ["view"],
    "fulfillment.carrieraccount": ["view"],
    "fulfillment.carrieraccountrate": ["view"],
    "support.notification": ["view"],
    "support.notificationtemplate": ["view"],
    "billing.invoice": ["view"],
    "billing.invoiceline": ["view"],
    "support.ticket": ["view", "add", "change"],
    "support.ticketmessage": ["view"],
    "support.macro": ["view"],
    "support.escalation": ["view", "change"],
    "support.slapolicy": ["view"],
}

_SUPERVISOR_EXTRA: dict[str, list[str]] = {
    "clients.client": ["view", "change_priority_weights"],
    "inventory.product": ["view", "add", "change"],
    "inventory.stocklevel": ["view", "receive_stock", "adjust_stock", "transfer_stock"],
    "inventory.stockmovement": ["view"],
    "inventory.supplier": ["view", "add", "change"],
    "inventory.supplierproduct": ["view", "add", "change"],
    "inventory.reorderrule": ["view", "add", "change", "run_replenishment"],
    "inventory.replenishmentpolicy": ["view", "add", "change"],
    "inventory.purchaseorder": [
        "view",
        "change",
        "approve_purchaseorder",
        "send_purchaseorder",
        "receive_purchaseorder",
    ],
    "orders.order": ["view", "add", "change", "cancel_order", "import_orders"],
    "orders.importjob": ["view", "add"],
    # Carriers, their services and the service-level rules are shared by every client: only
    # admins change them (issue #11). A client's own account and rates are per client.
    "fulfillment.carrier": ["view"],
    "fulfillment.carrierservice": ["view"],
    "fulfillment.servicelevelrule": ["view"],
    "fulfillment.carrieraccount": ["view", "add", "change"],
    "fulfillment.carrieraccountrate": ["view", "add", "change"],
    "fulfillment.trackingevent": ["view", "upload_tracking"],
    # Which clients: only those the user supervises (support/admin.py checks per client).
    "support.notification": ["view", "change"],
    "support.notificationtemplate": ["view", "add", "change"],
    "support.notificationpolicy": ["view", "add", "change"],
    "support.trackinglink": ["view", "change"],
    # Payments in, holds overridden, receivables exported: per supervised client (billing).
    "billing.payment": ["view", "add"],
    "support.macro": ["view", "add", "change"],
    "support.slapolicy": ["view", "add", "change"],
    "support.supportsettings": ["view", "add", "change"],
}


def _merge(*tables: dict[str, list[str]]) -> dict[str, set[str]]:
    merged: dict[str, set[str]] = {}
    for table in tables:
        for model, actions in table.items():
            merged.setdefault(model, set()).update(actions)
    return merged


ROLE_PERMISSIONS: dict[str, dict[str, set[str]]] = {
    AGENT: _merge(_AGENT_PERMS),
    SUPERVISOR: _merge(_AGENT_PERMS, _SUPERVISOR_EXTRA),
}


def _codename(model_label: str, action: str) -> tuple[str, str]:
    app_label, model = model_label.split(".")
    if action in {"view", "add", "change", "delete"}:
        return app_label, f"{action}_{model}"
    return app_label, action  # a custom permission's full codename


def sync_role_groups() -> None:
    """Make the role groups hold exactly the permissions declared above (those that exist)."""
    for group_name, table in ROLE_PERMISSIONS.items():
        group, _ = Group.objects.get_or_create(name=group_name)
        wanted = []
        for model_label, actions in table.items():
            for action in sorted(actions):
                app_label, codename = _codename(model_label, action)
                perm = Permission.objects.filter(
                    content_type__app_label=app_label, codename=codename
                ).first()
                if perm is not None:
                    wanted.append(perm)
        group.permissions.set(wanted)


def sync_role_groups_on_migrate(sender, **kwargs) -> None:
    # post_migrate fires once per app, in INSTALLED_APPS order, and each app's permissions are
    # created in its own turn: act on the last app so that every permission exists by then.
    from django.apps import apps

    if sender.label != list(apps.get_app_configs())[-1].label:
        return
    sync_role_groups()
