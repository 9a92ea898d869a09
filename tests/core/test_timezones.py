"""Operator time zone: the cookie the browser sets selects the zone of rendered times."""

import pytest
from django.utils import timezone

from ersen_ops.core.timezones import COOKIE, zone_from_cookie


def test_unknown_or_hostile_zone_cookie_is_ignored():
    assert zone_from_cookie("Europe/Istanbul").key == "Europe/Istanbul"
    assert zone_from_cookie("../../etc/passwd") is None
    assert zone_from_cookie("Mars/Olympus") is None
    assert zone_from_cookie(None) is None


@pytest.mark.django_db
def test_admin_renders_in_the_operator_zone_from_the_cookie(client, users):
    client.force_login(users["admin"])
    client.cookies[COOKIE] = "Asia/Tokyo"
    response = client.get("/admin/")
    assert response.status_code == 200
    assert str(timezone.get_current_timezone()) == "UTC"  # deactivated after the request
