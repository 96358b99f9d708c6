"""Templates and notifications in the admin: per-client scoping, supervisor-only editing,
compile errors refused with their line, live preview against a real order, test send, the
failed filter and retry."""

from __future__ import annotations

import pytest
from django.urls import reverse

from clients.models import Membership
from support import services
from support.models import Event, Notification, NotificationTemplate

SUP = Membership.Role.SUPERVISOR


@pytest.fixture
def two_shops(shop, make_client, make_product, make_customer, make_order, make_user):
    other = make_client("OTHER", timezone="UTC")
    other_product = make_product(other, stock={shop.warehouse: 5}, name="Other thing")
    other_customer = make_customer(other)
    mine = make_order(shop.client, [(shop.stocked, 1)], customer=shop.customer, number="MINE-1")
    theirs = make_order(other, [(other_product, 1)], customer=other_customer, number="THEIRS-1")
    services.notifications_queue(
        requests=[
            services.NotificationRequest(mine.pk, Event.CONFIRMED),
            services.NotificationRequest(theirs.pk, Event.CONFIRMED),
        ]
    )
    supervisor = make_user("sup", clients=[shop.client], role=SUP, email="sup@bpo.example")
    # Supervises shop, is only an agent of OTHER.
    from clients.services import membership_set

    membership_set(user=supervisor, client=other, role=Membership.Role.AGENT)
    agent = make_user("agt", clients=[shop.client])
    return {
        "other": other,
        "mine": mine,
        "theirs": theirs,
        "supervisor": supervisor,
        "agent": agent,
    }


def form_data(client_id, **overrides):
    data = {
        "client": client_id,
        "event": Event.SHIPPED,
        "language": "en",
        "active": "on",
        "subject": "Parcel {{ order_number }}",
        "body_text": "Hi {{ customer_first_name }}",
        "body_html": "<p>Hi {{ customer_first_name }}</p>",
    }
    data.update(overrides)
    return data


def test_notifications_list_is_scoped_and_failed_filter_works(client, shop, two_shops):
    client.force_login(two_shops["agent"])
    url = reverse("admin:support_notification_changelist")
    page = client.get(url).content.decode()
    assert "MINE-1" in page and "THEIRS-1" not in page
    theirs = Notification.objects.get(order=two_shops["theirs"])
    assert (
        client.get(reverse("admin:support_notification_change", args=[theirs.pk])).status_code
        == 404
    )
    mine = Notification.objects.get(order=two_shops["mine"])
    Notification.objects.filter(pk=mine.pk).update(status="failed", last_error="550 no such user")
    failed = client.get(url + "?problems=failed").content.decode()
    assert "MINE-1" in failed and "550 no such user" in failed
    Notification.objects.filter(pk=mine.pk).update(status="sent")
    assert "MINE-1" not in client.get(url + "?problems=failed").content.decode()


def test_agents_cannot_edit_templates(client, shop, two_shops):
    NotificationTemplate.objects.create(
        client=two_shops["other"], event=Event.SHIPPED, subject="OTHER-SUBJECT", body_text="x"
    )
    client.force_login(two_shops["agent"])
    listing = client.get(reverse("admin:support_notificationtemplate_changelist"))
    assert listing.status_code == 200 and "OTHER-SUBJECT" not in listing.content.decode()
    response = client.post(
        reverse("admin:support_notificationtemplate_add"), form_data(shop.client.pk)
    )
    assert response.status_code == 403
    assert not NotificationTemplate.objects.filter(client=shop.client).exists()


def test_supervisor_saves_a_template_for_a_supervised_client_only(client, shop, two_shops):
    client.force_login(two_shops["supervisor"])
    add = reverse("admin:support_notificationtemplate_add")
    page = client.get(add + "?event=shipped").content.decode()
    assert "Your order {{ order_number }} is on its way" in page  # the default, to start from
    assert f'value="{two_shops["other"].pk}"' not in page  # only an agent there
    response = client.post(add, form_data(two_shops["other"].pk))
    assert response.status_code == 200 and not NotificationTemplate.objects.exists()
    response = client.post(add, form_data(shop.client.pk))
    assert response.status_code == 302
    template = NotificationTemplate.objects.get()
    assert (template.client, template.updated_by) == (shop.client, two_shops["supervisor"])


def test_template_that_does_not_compile_is_refused_with_line(client, shop, two_shops):
    client.force_login(two_shops["supervisor"])
    response = client.post(
        reverse("admin:support_notificationtemplate_add"),
        form_data(shop.client.pk, body_text="Hi\n{% for x in lines %}\nno end"),
    )
    assert response.status_code == 200
    page = response.content.decode()
    assert "Refused: Plain-text body: line" in page
    assert not NotificationTemplate.objects.exists()


def test_preview_renders_against_a_real_order_in_the_sandbox(client, shop, two_shops):
    client.force_login(two_shops["supervisor"])
    url = reverse("admin:support_notificationtemplate_preview")
    data = form_data(
        shop.client.pk,
        body_text="Hi {{ customer_first_name }} {{ settings.SECRET_KEY }}"
        "{{ order.customer.delete }}",
        order_number="MINE-1",
    )
    result = client.post(url, data).json()
    assert result["errors"] == []
    assert result["order"] == "MINE-1"
    assert result["subject"] == "Parcel MINE-1"
    assert result["body_text"] == "Hi Ada "
    assert result["body_html"] == "<p>Hi Ada</p>"
    # Another client's order is never found, and a client not supervised is refused.
    other = client.post(url, form_data(shop.client.pk, order_number="THEIRS-1")).json()
    assert other["errors"] == ["No order THEIRS-1 for this client."]
    refused = client.post(url, form_data(two_shops["other"].pk)).json()
    assert refused["errors"] == ["Choose one of the clients you supervise first."]
    broken = client.post(url, form_data(shop.client.pk, subject="{% if %}")).json()
    assert broken["errors"][0].startswith("Subject: line 1")


def test_test_send_goes_to_the_supervisor_only(client, shop, two_shops, mailoutbox):
    client.force_login(two_shops["supervisor"])
    result = client.post(
        reverse("admin:support_notificationtemplate_test_send"), form_data(shop.client.pk)
    ).json()
    assert result == {"errors": [], "message": "Test e-mail sent to sup@bpo.example."}
    (mail,) = mailoutbox
    assert mail.to == ["sup@bpo.example"]
    assert mail.subject.startswith("[TEST] Parcel ")
    assert not Notification.objects.filter(recipient="sup@bpo.example").exists()


def test_retry_action_requeues_failed(client, shop, two_shops, mailoutbox, sync_tasks):
    mine = Notification.objects.get(order=two_shops["mine"])
    Notification.objects.filter(pk=mine.pk).update(status="failed")
    client.force_login(two_shops["supervisor"])
    response = client.post(
        reverse("admin:support_notification_changelist"),
        {"action": "retry_failed", "_selected_action": [mine.pk]},
        follow=True,
    )
    assert "Queued again: 1 notification(s)." in response.content.decode()
    mine.refresh_from_db()
    assert mine.status == "queued"


def test_order_page_shows_notifications_and_the_tracking_link(client, shop, two_shops):
    client.force_login(two_shops["supervisor"])
    page = client.get(reverse("admin:orders_order_change", args=[two_shops["mine"].pk]))
    html = page.content.decode()
    assert 'id="notification-table"' in html
    assert "Order confirmed" in html
    assert 'id="customer-tracking-link"' in html
