"""A URL map for the error-page tests: the real one plus a view that fails."""

from django.db import connection
from django.urls import path

from ersen_ops.urls import handler403, handler404, handler500, urlpatterns  # noqa: F401


def boom(request):
    raise RuntimeError("secret-internal-detail: something broke")


def boom_with_query(request):
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    raise RuntimeError("secret-internal-detail")


urlpatterns = [path("boom/", boom), path("admin/boom/", boom_with_query), *urlpatterns]
