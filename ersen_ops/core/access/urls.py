"""/accounts/: our account page first, then allauth's views (login, logout, password, second factor, sessions)."""

from django.urls import include, path

from ersen_ops.core.access import views

urlpatterns = [
    path("", views.account_overview, name="ops_account"),
    path("", include("allauth.urls")),
]
