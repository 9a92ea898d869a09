"""A named person links to what the viewer may see about them (their windows, incidents), or to nothing — never to
the user admin (403 for everyone but superusers)."""

from __future__ import annotations

import pytest
from django.urls import reverse

from ersen_ops.core.people import person_link
from ersen_ops.core.services import site_settings_set_phase
from tests.factories import UserFactory
from tests.maintenance.conftest import schedule
from tests.maintenance.factories import MaintenanceWindowFactory

pytestmark = pytest.mark.django_db


def test_a_viewer_gets_links_to_the_persons_windows_and_incidents(users):
    html = person_link(users["operator"], users["viewer"])
    pk = users["operator"].pk
    assert f'href="{reverse("admin:maintenance_maintenancewindow_changelist")}?person={pk}"' in html
    assert f'href="{reverse("admin:incidents_incident_changelist")}?person={pk}"' in html
    assert "/admin/auth/user/" not in html


def test_someone_who_may_see_neither_list_gets_the_name_only(users):
    nobody = UserFactory(username="nobody")  # staff, no role
    assert person_link(users["operator"], nobody) == '<span class="person">operator</span>'
    assert person_link(None, nobody) == "—"


def test_the_windows_list_filters_by_owner_or_on_call(client, users):
    mine = MaintenanceWindowFactory(title="Owned by operator", owner=users["operator"])
    on_call = MaintenanceWindowFactory(title="Operator on call", on_call_engineer=users["operator"])
    other = MaintenanceWindowFactory(title="Someone else's")
    client.force_login(users["viewer"])
    url = reverse("admin:maintenance_maintenancewindow_changelist") + f"?person={users['operator'].pk}"
    response = client.get(url)
    titles = {w.title for w in response.context["cl"].result_list}
    assert titles == {mine.title, on_call.title} and other.title not in titles


def test_a_read_only_window_names_people_without_user_admin_links(client, users):
    site_settings_set_phase(actor="system:test", phase="postlaunch")
    window = MaintenanceWindowFactory(owner=users["operator"], on_call_engineer=users["approver"])
    schedule(window, users["operator"])
    client.force_login(users["viewer"])  # view only: every field is read-only
    html = client.get(reverse("admin:maintenance_maintenancewindow_change", args=[window.pk])).content.decode()
    assert "/admin/auth/user/" not in html
    assert f"?person={users['approver'].pk}" in html
