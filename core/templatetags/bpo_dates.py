"""``{% load bpo_dates %}`` then ``{{ order.ship_by|client_time:order.client.timezone }}`` or
``{{ line.expected_available_on|client_date }}``: the one date format (core/dates.py)."""

from django import template

from core.dates import local_date, local_datetime

register = template.Library()


@register.filter
def client_time(value, tz_name=None):
    return local_datetime(value, tz_name)


@register.filter
def client_date(value, tz_name=None):
    return local_date(value, tz_name)
