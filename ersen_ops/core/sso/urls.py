"""The OpenID Connect login and callback URLs (allauth's names and paths), served with our hardened adapter."""

from allauth.account.internal.decorators import login_not_required
from allauth.socialaccount import app_settings
from allauth.socialaccount.models import SocialApp
from allauth.socialaccount.providers.oauth2.views import OAuth2CallbackView, OAuth2LoginView
from django.http import Http404
from django.urls import include, path, re_path

from ersen_ops.core.sso import views
from ersen_ops.core.sso.adapter import refuse
from ersen_ops.core.sso.choices import Refusal
from ersen_ops.core.sso.provider import OpsOpenIDConnectAdapter, unreachable_detail


@login_not_required
def login(request, provider_id):
    try:
        return OAuth2LoginView.adapter_view(OpsOpenIDConnectAdapter(request, provider_id))(request)
    except SocialApp.DoesNotExist:
        raise Http404 from None


class CallbackView(OAuth2CallbackView):
    def dispatch(self, request, *args, **kwargs):
        try:
            return super().dispatch(request, *args, **kwargs)
        except KeyError as exc:  # a discovery document without one of the endpoints
            return refuse(request, Refusal.UNREACHABLE, detail=unreachable_detail(exc))

    def _get_state(self, request, provider):
        state, response = super()._get_state(request, provider)
        self.adapter.login_state = state  # the nonce it holds is checked against the ID token's
        return state, response


@login_not_required
def callback(request, provider_id):
    try:
        return CallbackView.adapter_view(OpsOpenIDConnectAdapter(request, provider_id))(request)
    except SocialApp.DoesNotExist:
        raise Http404 from None


urlpatterns = [
    path("reauthenticate/", views.reauthenticate, name="ops_sso_reauthenticate"),
    re_path(
        r"^(?P<provider_id>[^/]+)/",
        include(
            [
                path("login/", login, name="openid_connect_login"),
                path("login/callback/", callback, name="openid_connect_callback"),
            ]
        ),
    ),
]
if app_settings.OPENID_CONNECT_URL_PREFIX:
    urlpatterns = [path(f"{app_settings.OPENID_CONNECT_URL_PREFIX}/", include(urlpatterns))]
