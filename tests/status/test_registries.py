"""What apps above status plug into it: component sources (the public status) and the status page channel."""

from __future__ import annotations

import pytest

from ersen_ops.notifications.channels import get_channel
from ersen_ops.notifications.choices import Channel
from ersen_ops.status import selectors, sources
from ersen_ops.status.choices import ComponentStatus
from tests.status.factories import make_component, publish, utc

pytestmark = pytest.mark.django_db


@pytest.fixture
def registry():
    saved = dict(sources._SOURCES)
    yield sources
    sources._SOURCES.clear()
    sources._SOURCES.update(saved)


def test_incidents_and_maintenance_register_what_they_do_to_components():
    assert {s.name for s in sources.component_sources()} >= {"incidents", "maintenance"}


def test_a_registered_source_makes_a_components_public_status_worse(registry, django_assert_num_queries):
    api = make_component(at=utc(2026, 12, 1, 9), name="API")
    since = utc(2026, 12, 1, 10)
    registry.register_component_source(
        sources.ComponentSource(name="probe", impacts=lambda: [(api.pk, ComponentStatus.MAJOR_OUTAGE, since)])
    )
    with django_assert_num_queries(5):  # the components + two queries each for incidents and maintenance
        (public,) = selectors.load_components()
    assert public.status == ComponentStatus.MAJOR_OUTAGE and public.updated_at == since

    registry._SOURCES.pop("probe")
    (public,) = selectors.load_components()
    assert public.status == ComponentStatus.OPERATIONAL


def test_the_status_page_channel_tells_the_delivery_admin_which_post_it_published():
    component = make_component(at=utc(2026, 12, 1, 9), name="API")
    post = publish(component, event="maintenance.scheduled", body="B", at=utc(2026, 12, 1, 10))
    # StatusPost has no admin page of its own: the delivery admin shows the post's id, unlinked
    assert get_channel(Channel.STATUS_PAGE).published(post.delivery) == (post.public_id, None)
    # a channel that leaves nothing in the portal
    assert get_channel(Channel.DISCORD).published(post.delivery) is None
