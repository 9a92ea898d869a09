"""Only subscribers of an affected component (or of everything) hear about an event."""

from __future__ import annotations

import pytest

from ersen_ops.notifications.choices import Channel
from ersen_ops.notifications.models import NotificationDelivery
from ersen_ops.notifications.sending import delivery_send
from ersen_ops.status.models import StatusPost
from incidents.choices import Impact, Level
from incidents.services import incident_open
from subscribers import fanout
from subscribers.models import SubscriberMessage
from tests.factories import ComponentFactory
from tests.incidents.factories import CommanderFactory
from tests.subscribers.factories import SubscriberFactory, WebhookSubscriberFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def tree(db):
    storage = ComponentFactory(name="Storage", is_group=True, position=10)
    return {
        "api": ComponentFactory(name="API", position=1),
        "dashboard": ComponentFactory(name="Dashboard", position=2),
        "storage": storage,
        "database": ComponentFactory(name="Database", group=storage, position=11),
        "backups": ComponentFactory(name="Backups", group=storage, position=12),
    }


@pytest.fixture
def readers(tree):
    return {
        "everything": SubscriberFactory(email="everything@example.com"),
        "api": SubscriberFactory(email="api@example.com", components=[tree["api"]]),
        "dashboard": SubscriberFactory(email="dashboard@example.com", components=[tree["dashboard"]]),
        "database": SubscriberFactory(email="database@example.com", components=[tree["database"]]),
        "api+database": SubscriberFactory(email="both@example.com", components=[tree["api"], tree["database"]]),
        "pending": SubscriberFactory(email="pending@example.com", status="pending", confirmed_at=None),
        "gone": SubscriberFactory(email="gone@example.com", status="unsubscribed"),
    }


def told(event):
    return sorted(
        m.subscriber.email.split("@")[0]
        for m in SubscriberMessage.objects.filter(notice__event=event, subscriber__isnull=False).select_related(
            "subscriber"
        )
    )


def open_on(components, message="Investigating."):
    return incident_open(
        actor=CommanderFactory(username="ic"),
        title="Trouble",
        level=Level.P3,
        components=dict.fromkeys(components, Impact.DEGRADED_PERFORMANCE),
        message=message,
    )


def test_an_incident_reaches_subscribers_of_its_components_and_of_everything(tree, readers, pipeline):
    with pipeline():
        open_on([tree["api"]])
    assert told("incident.investigating") == ["api", "both", "everything"]


def test_a_group_member_hears_about_its_own_component_only(tree, readers, pipeline):
    with pipeline():
        open_on([tree["backups"]])
    assert told("incident.investigating") == ["everything"]


def test_an_event_on_a_group_reaches_the_subscribers_of_its_children(tree, readers, pipeline):
    with pipeline():
        open_on([tree["storage"]])
    assert told("incident.investigating") == ["both", "database", "everything"]


def test_an_event_without_components_reaches_everyone_confirmed(tree, readers, pipeline):
    with pipeline():
        open_on([])
    assert told("incident.investigating") == ["api", "both", "dashboard", "database", "everything"]


def test_webhooks_are_filtered_by_component_too(tree, pipeline, httpserver):
    dashboard_hook = WebhookSubscriberFactory(url=httpserver.url_for("/d"), components=[tree["dashboard"]])
    all_hook = WebhookSubscriberFactory(url=httpserver.url_for("/all"))
    httpserver.expect_request("/d").respond_with_data("ok")
    httpserver.expect_request("/all").respond_with_data("ok")
    with pipeline():
        open_on([tree["api"]])
    webhooks = set(
        SubscriberMessage.objects.filter(notice__event="incident.investigating").values_list("webhook_id", flat=True)
    )
    assert webhooks == {all_hook.pk}
    assert dashboard_hook.pk not in webhooks


def test_a_subscriber_who_changed_components_after_planning_is_left_out(tree, readers):
    """A chunk re-checks each recipient's choice when it runs: a later change of mind wins."""
    open_on([tree["api"]])  # outside the pipeline: nothing queued after commit runs by itself
    delivery_send(delivery_id=NotificationDelivery.objects.get(channel=Channel.STATUS_PAGE).pk)  # publishes the post
    notice = fanout.notice_from_status_post(post_id=StatusPost.objects.get().pk)
    assert notice.email_recipients == 3
    readers["api"].components.set([tree["dashboard"]])
    for chunk in notice.chunks.all():
        fanout.chunk_deliver(chunk_id=chunk.pk)
    assert told("incident.investigating") == ["both", "everything"]
