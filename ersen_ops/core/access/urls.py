"""/accounts/: our account page first, then allauth's views (login, logout, password, second factor, sessions)."""

from django.urls import include, path
from django.views.generic import RedirectView

from ersen_ops.core.access import views

urlpatterns = [
    path("", views.account_overview, name="ops_account"),
    # allauth's own 2FA overview (`mfa_index`, where its flows return) is My account's second-factor list.
    path("2fa/", RedirectView.as_view(pattern_name="ops_account")),
    path("2fa/webauthn/keys/<int:pk>/remove/", views.remove_security_key),  # keeps a required user's last factor
    # allauth.usersessions' list is My account's Sessions section (ending sessions there is audited).
    path("sessions/", RedirectView.as_view(pattern_name="ops_account")),
    path("sessions/end-others/", views.end_other_sessions, name="ops_end_other_sessions"),
    path("", include("allauth.urls")),
]
