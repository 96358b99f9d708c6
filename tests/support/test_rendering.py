"""The sandboxed renderer: hostile templates render nothing, broken ones are refused."""

from __future__ import annotations

import datetime

import pytest
from django.conf import settings

from support.rendering import TemplateRefused, compile_template, freeze, render, render_string


@pytest.mark.parametrize(
    "source",
    [
        "{{ settings.SECRET_KEY }}",
        "{{ order.customer.delete }}",
        "{{ request.user.password }}",
        "{{ view.request }}",
    ],
)
def test_hostile_variables_render_nothing(source):
    out = render_string(source, {"customer_first_name": "Ada", "lines": [{"sku": "A"}]}, html=False)
    assert out == ""
    assert settings.SECRET_KEY not in out


@pytest.mark.parametrize(
    "source", ["{{ lines.0.__class__.__mro__ }}", "{{ customer_first_name.__class__ }}"]
)
def test_dunder_attributes_are_refused(source):
    with pytest.raises(TemplateRefused) as info:
        compile_template(source, html=False)
    assert "underscore" in info.value.error


def test_model_instances_never_reach_the_template(shop, make_order):
    order = make_order(shop.client, [(shop.stocked, 1)], customer=shop.customer)
    # Even if a caller slipped in an instance, it is turned into its string form.
    out = render_string("{{ order.customer.delete }}|{{ order }}", {"order": order}, html=False)
    assert out == f"|{order.number}"
    order.customer.refresh_from_db()  # still there


def test_mutating_methods_cannot_change_the_context():
    context = freeze({"lines": [{"sku": "A"}, {"sku": "B"}], "data": {"k": "v"}})
    template = compile_template("{{ lines.clear }}{{ data.clear }}{{ data.popitem }}", html=False)
    render(template, context)
    assert len(context["lines"]) == 2
    assert dict(context["data"]) == {"k": "v"}


@pytest.mark.parametrize(
    "source,needle",
    [
        ("{% debug %}", "debug"),
        ("{% load static %}", "load"),
        ("{% include 'admin/base.html' %}", "include"),
        ("{% extends 'admin/base.html' %}", "extends"),
        ("{% url 'admin:index' %}", "url"),
        ("{% csrf_token %}", "csrf_token"),
    ],
)
def test_dangerous_tags_are_refused(source, needle):
    with pytest.raises(TemplateRefused) as info:
        compile_template(source, html=True)
    assert needle in info.value.error


def test_syntax_error_reports_line_and_error():
    with pytest.raises(TemplateRefused) as info:
        compile_template("Hello\n{{ name }}\n{% if %}\nbye", html=False, part="Subject")
    assert info.value.line == 3
    assert "if" in info.value.error
    assert str(info.value).startswith("Subject: line 3")


def test_unclosed_block_and_unknown_filter_are_refused():
    with pytest.raises(TemplateRefused):
        compile_template("{% for x in lines %}{{ x }}", html=False)
    with pytest.raises(TemplateRefused) as info:
        compile_template("{{ name|shell }}", html=False)
    assert "shell" in info.value.error


def test_too_long_template_is_refused():
    with pytest.raises(TemplateRefused):
        compile_template("x" * 50_001, html=False)


def test_html_is_escaped_text_is_not():
    context = {"name": "<b>Ada</b>", "when": datetime.date(2026, 12, 24)}
    assert render_string("{{ name }}", context, html=True) == "&lt;b&gt;Ada&lt;/b&gt;"
    assert render_string("{{ name }}", context, html=False) == "<b>Ada</b>"
    assert render_string("{{ when|date:'j F Y' }}", context, html=False) == "24 December 2026"


def test_default_filters_and_loops_work():
    out = render_string(
        "{% for l in lines %}{{ l.quantity }}×{{ l.name|upper }}{% if not forloop.last %}, "
        "{% endif %}{% endfor %}",
        {"lines": [{"quantity": 2, "name": "mug"}, {"quantity": 1, "name": "lamp"}]},
        html=False,
    )
    assert out == "2×MUG, 1×LAMP"
