"""Order entry in the admin: an agent keys in a phone or e-mail order.

The page only collects input (``orders.forms.OrderEntryForm`` and its line formset) and maps
the intake validator's problems (``order_input_problems``) onto the form's fields; the order
is created by ``services.order_key_in`` — the one intake path imports take too. Two small JSON
endpoints feed the page's script (``static/bpo/order_entry.js``): products by SKU or name with
their available stock per warehouse, and customers by name, e-mail or phone. Everything is
scoped to the clients the user works for (``clients/scoping.py``).
"""

from __future__ import annotations

import secrets

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.db.models import Q
from django.http import Http404, HttpResponseRedirect, JsonResponse
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone

from clients.scoping import can_access_client
from inventory.models import Product
from orders import selectors, services
from orders.exceptions import OrderValidationError
from orders.forms import SHIP_TO_KEYS, OrderEntryForm, OrderEntryLineFormSet
from orders.models import Customer, Order

FORM_FIELDS = {
    "number": "number",
    "service_level": "service_level",
    "customer": "customer_name",
    **{f"ship_to_{key}": f"ship_to_{key}" for key in SHIP_TO_KEYS},
}


def _client_param(request) -> int:
    value = request.GET.get("client", "")
    if not value.isdigit() or not can_access_client(request.user, int(value)):
        raise Http404("No such client.")
    return int(value)


def products_json(model_admin, request):
    if not model_admin.has_add_permission(request):
        raise PermissionDenied
    client_id = _client_param(request)
    skus = [s for s in request.GET.getlist("sku") if s][:50]
    found = selectors.products_with_stock(
        client_id=client_id, term=request.GET.get("q", ""), skus=skus
    )
    return JsonResponse({"products": found})


def customers_json(model_admin, request):
    if not model_admin.has_add_permission(request):
        raise PermissionDenied
    client_id = _client_param(request)
    return JsonResponse(
        {
            "customers": selectors.customers_matching(
                client_id=client_id, term=request.GET.get("q", "")
            )
        }
    )


def outcome_text(order: Order) -> tuple[str, str]:
    """(message level, text): what happened to the new order, and what is short."""
    if order.status == Order.Status.BACKORDERED:
        short = [
            f"{line.product.sku} ×{line.qty_backordered}"
            for line in order.lines.select_related("product").order_by("line_no")
            if line.qty_backordered
        ]
        return (
            messages.WARNING,
            f"Order {order.number} created and backordered: short {', '.join(short)}. "
            "It will be allocated when stock arrives.",
        )
    return (
        messages.SUCCESS,
        f"Order {order.number} created: {order.get_status_display().lower()} "
        "(every unit reserved).",
    )


def _generated_number(client) -> str:
    return f"{client.code}-P{timezone.now():%y%m%d%H%M%S}{secrets.randbelow(100):02d}"


def _build(form, lines, client):
    """The ``OrderInput`` (or None) and the line forms in its line order; unknown SKUs and
    another client's customer become field errors."""
    data = form.cleaned_data
    customer = None
    if data.get("customer_id"):
        customer = Customer.objects.filter(pk=data["customer_id"], client=client).first()
        if customer is None:
            form.add_error("customer_name", "Choose one of this client's customers.")
    filled = [f for f in lines.forms if f.cleaned_data.get("sku")]
    if not filled:
        lines._non_form_errors = lines.error_class(["Add at least one product."])
        return None, [], customer
    wanted = {f.cleaned_data["sku"].strip() for f in filled}
    products = {p.sku: p for p in Product.objects.filter(client=client, sku__in=wanted)}
    upper = {p.sku.upper(): p for p in products.values()}
    missing = {s for s in wanted if s not in products and s.upper() not in upper}
    if missing:  # a SKU typed in another case
        condition = Q()
        for sku in missing:
            condition |= Q(sku__iexact=sku)
        for p in Product.objects.filter(condition, client=client):
            upper[p.sku.upper()] = p
    line_inputs = []
    for f in filled:
        sku = f.cleaned_data["sku"].strip()
        product = products.get(sku) or upper.get(sku.upper())
        if product is None:
            f.add_error("sku", f"No product with SKU '{sku}' for {client.code}.")
            continue
        line_inputs.append(services.LineInput(product=product, quantity=f.cleaned_data["quantity"]))
    if len(line_inputs) != len(filled) or not form.is_valid():
        return None, filled, customer
    order_input = services.OrderInput(
        number=data.get("number") or _generated_number(client),
        lines=line_inputs,
        customer=customer,
        service_level=data["service_level"],
        expedite=bool(data.get("expedite")),
        ship_to={key: data.get(f"ship_to_{key}", "") for key in SHIP_TO_KEYS},
        source=Order.Source.MANUAL,
        note=(data.get("note") or "").strip(),
    )
    return order_input, filled, customer


def _show_problems(form, lines, filled, problems) -> None:
    for problem in problems:
        if problem.line is not None and problem.line < len(filled):
            field = problem.field if problem.field in ("sku", "quantity") else "sku"
            filled[problem.line].add_error(field, problem.message)
        elif problem.field in FORM_FIELDS:
            form.add_error(FORM_FIELDS[problem.field], problem.message)
        else:
            form.add_error(None, problem.message)


def entry_view(model_admin, request):
    """The order entry page (``/admin/orders/order/add/``)."""
    if not model_admin.has_add_permission(request):
        raise PermissionDenied
    user = request.user
    form = OrderEntryForm(request.POST or None, user=user)
    lines = OrderEntryLineFormSet(request.POST or None, prefix="lines")
    if request.method == "POST" and form.is_valid() & lines.is_valid():
        client = form.cleaned_data["client"]
        if not can_access_client(user, client.pk):  # the field is scoped; belt and braces
            raise PermissionDenied
        order_input, filled, customer = _build(form, lines, client)
        if order_input is not None:
            problems = services.order_input_problems(client, order_input)
            if problems:
                _show_problems(form, lines, filled, problems)
            else:
                data = form.cleaned_data
                new_customer = None
                if customer is None:
                    new_customer = services.CustomerDetails(
                        email=(data.get("customer_email") or "").strip().lower(),
                        name=data.get("customer_name") or data.get("customer_email") or "",
                    )
                try:
                    order = services.order_key_in(
                        client=client,
                        data=order_input,
                        customer=customer,
                        new_customer=new_customer,
                        customer_phone=(data.get("customer_phone") or "").strip(),
                        user=user,
                    )
                except OrderValidationError as exc:
                    form.add_error("number" if "exists" in str(exc) else None, str(exc))
                else:
                    level, text = outcome_text(order)
                    messages.add_message(request, level, text)
                    return HttpResponseRedirect(
                        reverse("admin:orders_order_change", args=[order.pk])
                    )
    context = {
        **model_admin.admin_site.each_context(request),
        "title": "Key in an order",
        "opts": Order._meta,
        "form": form,
        "lines": lines,
        "products_url": reverse("admin:orders_order_entry_products"),
        "customers_url": reverse("admin:orders_order_entry_customers"),
    }
    return TemplateResponse(request, "admin/orders/order/entry.html", context)
