"""The templates every client starts with (English), one per event: a new client's customers
are informed at once; supervisors override them per language in the admin.

Variables (all plain values; see support/context.py): customer_first_name, client_name,
order_number, placed_on, ship_by, status, lines (sku, name, quantity, shipped, backordered),
tracking_url, cancel_url, expected_date, revised_date, delay_reason, carrier,
tracking_number, carrier_tracking_url, eta, exception_reason.
"""

from __future__ import annotations

from dataclasses import dataclass

from support.models import Event

DEFAULT_LANGUAGE = "en"

_GREETING = "Hello {{ customer_first_name|default:'there' }},"
_SIGNATURE = "\n\nTrack your order: {{ tracking_url }}\n\n{{ client_name }}"
_LINES = "{% for line in lines %}\n- {{ line.quantity }} × {{ line.name }}{% endfor %}"

_HTML_HEAD = "<p>Hello {{ customer_first_name|default:'there' }},</p>\n"
_HTML_TAIL = '\n<p><a href="{{ tracking_url }}">Track your order</a></p>\n<p>{{ client_name }}</p>'
_HTML_LINES = (
    "<ul>{% for line in lines %}<li>{{ line.quantity }} × {{ line.name }}</li>{% endfor %}</ul>"
)


@dataclass(frozen=True)
class DefaultTemplate:
    subject: str
    body_text: str
    body_html: str


DEFAULTS: dict[str, DefaultTemplate] = {
    Event.CONFIRMED: DefaultTemplate(
        "Your order {{ order_number }} is confirmed",
        f"{_GREETING}\n\nthank you for your order {{{{ order_number }}}}. We will ship it by "
        f"{{{{ ship_by|date:'l, j F' }}}}.\n{_LINES}{_SIGNATURE}",
        f"{_HTML_HEAD}<p>Thank you for your order <strong>{{{{ order_number }}}}</strong>. We "
        f"will ship it by {{{{ ship_by|date:'l, j F' }}}}.</p>\n{_HTML_LINES}{_HTML_TAIL}",
    ),
    Event.BACKORDERED: DefaultTemplate(
        "Part of your order {{ order_number }} is on backorder",
        f"{_GREETING}\n\nsome items of your order {{{{ order_number }}}} are not in stock right "
        "now.{% if expected_date %} We expect them on {{ expected_date|date:'l, j F' }}."
        "{% else %} We will tell you as soon as we know when they arrive.{% endif %}\n"
        "{% for line in lines %}{% if line.backordered %}\n- {{ line.backordered }} × "
        "{{ line.name }}{% endif %}{% endfor %}\n\nIf you would rather not wait, you can cancel "
        f"free of charge: {{{{ cancel_url }}}}{_SIGNATURE}",
        f"{_HTML_HEAD}<p>Some items of your order <strong>{{{{ order_number }}}}</strong> are "
        "not in stock right now.{% if expected_date %} We expect them on "
        "{{ expected_date|date:'l, j F' }}.{% else %} We will tell you as soon as we know when "
        "they arrive.{% endif %}</p>\n<ul>{% for line in lines %}{% if line.backordered %}<li>"
        "{{ line.backordered }} × {{ line.name }}</li>{% endif %}{% endfor %}</ul>\n<p>If you "
        'would rather not wait, you can <a href="{{ cancel_url }}">cancel free of charge</a>.'
        f"</p>{_HTML_TAIL}",
    ),
    Event.DELAY: DefaultTemplate(
        "Your order {{ order_number }} is delayed: new date {{ revised_date|date:'j F' }}",
        f"{_GREETING}\n\nwe are sorry: your order {{{{ order_number }}}} will not "
        "{% if revised_kind == 'delivery' %}arrive{% else %}ship{% endif %} on time. "
        "{{ delay_reason }}\n\nOur new date: {{ revised_date|date:'l, j F Y' }}.\n\nYou can "
        "wait, or cancel the order free of charge — nothing has been charged for items that "
        f"have not shipped: {{{{ cancel_url }}}}{_SIGNATURE}",
        f"{_HTML_HEAD}<p>We are sorry: your order <strong>{{{{ order_number }}}}</strong> will "
        "not {% if revised_kind == 'delivery' %}arrive{% else %}ship{% endif %} on time. "
        "{{ delay_reason }}</p>\n<p>Our new date: <strong>{{ revised_date|date:'l, j F Y' }}"
        "</strong>.</p>\n<p>You can wait, or "
        '<a href="{{ cancel_url }}">cancel the order free of charge</a>.</p>' + _HTML_TAIL,
    ),
    Event.SHIPPED: DefaultTemplate(
        "Your order {{ order_number }} is on its way",
        f"{_GREETING}\n\nyour order {{{{ order_number }}}} has left our warehouse with "
        "{{ carrier }} (tracking number {{ tracking_number }}). Expected delivery: "
        "{{ eta|date:'l, j F' }}.\n\nFollow the parcel: {{ carrier_tracking_url }}" + _SIGNATURE,
        f"{_HTML_HEAD}<p>Your order <strong>{{{{ order_number }}}}</strong> has left our "
        "warehouse with {{ carrier }} (tracking number {{ tracking_number }}). Expected "
        "delivery: {{ eta|date:'l, j F' }}.</p>\n<p><a href=\"{{ carrier_tracking_url }}\">"
        "Follow the parcel</a></p>" + _HTML_TAIL,
    ),
    Event.OUT_FOR_DELIVERY: DefaultTemplate(
        "Your order {{ order_number }} arrives today",
        f"{_GREETING}\n\n{{{{ carrier }}}} is delivering your order {{{{ order_number }}}} "
        "today." + _SIGNATURE,
        f"{_HTML_HEAD}<p>{{{{ carrier }}}} is delivering your order "
        "<strong>{{ order_number }}</strong> today.</p>" + _HTML_TAIL,
    ),
    Event.DELIVERED: DefaultTemplate(
        "Your order {{ order_number }} was delivered",
        f"{_GREETING}\n\nyour order {{{{ order_number }}}} was delivered. Enjoy!" + _SIGNATURE,
        f"{_HTML_HEAD}<p>Your order <strong>{{{{ order_number }}}}</strong> was delivered. "
        "Enjoy!</p>" + _HTML_TAIL,
    ),
    Event.EXCEPTION: DefaultTemplate(
        "A problem with the delivery of order {{ order_number }}",
        f"{_GREETING}\n\n{{{{ carrier }}}} reported a problem with the delivery of your order "
        "{{ order_number }}: {{ exception_reason }}. We are on it and will get back to you."
        + _SIGNATURE,
        f"{_HTML_HEAD}<p>{{{{ carrier }}}} reported a problem with the delivery of your order "
        "<strong>{{ order_number }}</strong>: {{ exception_reason }}. We are on it and will "
        "get back to you.</p>" + _HTML_TAIL,
    ),
    Event.CANCELLED: DefaultTemplate(
        "Your order {{ order_number }} was cancelled",
        f"{_GREETING}\n\nyour order {{{{ order_number }}}} was cancelled. You will not be "
        "charged for anything that did not ship." + _SIGNATURE,
        f"{_HTML_HEAD}<p>Your order <strong>{{{{ order_number }}}}</strong> was cancelled. "
        "You will not be charged for anything that did not ship.</p>" + _HTML_TAIL,
    ),
}
