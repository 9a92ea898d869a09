"""Public subscription pages: subscribe, confirm, manage, unsubscribe (no login; the signed link is the key).

- GET never changes anything: mail scanners and link previews fetch links, so confirming and
  unsubscribing are POSTs (a button on the page the link opens).
- `/subscribe` answers the same whatever the address's state (no enumeration); it is CSRF-protected
  and rate limited per address and per client network (`services.rate_limit_hit`, database-backed).
- `/subscriptions/unsubscribe/<token>` also accepts RFC 8058 one-click POSTs from mail providers
  ("List-Unsubscribe=One-Click"): they carry no CSRF token, so that view is CSRF-exempt. The signed
  token in the URL is the authority, not a cookie, so there is nothing for a forged request to borrow.
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.http import HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt, csrf_protect
from django.views.decorators.http import require_http_methods

from ersen_ops.core.clients import request_client_ip
from ersen_ops.core.errors import DomainError
from ersen_ops.core.wording import duration
from subscribers import policy, selectors, services, tokens
from subscribers.choices import SubscriberStatus, WebhookStatus
from subscribers.forms import ComponentsForm, SubscribeForm

logger = logging.getLogger(__name__)

MESSAGE_IP_LIMIT = (
    "Too many subscription requests from your network. Try again in {wait} (at most {limit} per {window})."
)
MESSAGE_ADDRESS_LIMIT = (
    "Too many subscription requests for this address. Try again in {wait} (at most {limit} per {window})."
)


def _context(**extra) -> dict:
    return {
        "page_name": settings.OPS_STATUS_PAGE_NAME,
        "maintenance_tz": settings.OPS_MAINTENANCE_TZ,
        "confirm_hours": settings.OPS_SUBSCRIBE_CONFIRM_HOURS,
        "webhook_disable_after": settings.OPS_SUBSCRIBER_WEBHOOK_DISABLE_AFTER,
        **extra,
    }


def _page(request, template: str, status: int = 200, **extra):
    response = render(request, f"subscribers/{template}", _context(**extra), status=status)
    response["X-Robots-Tag"] = "noindex"
    return response


def _limited(request, form, message: str, decision):
    response = _page(request, "subscribe.html", status=429, form=form, limit_error=message)
    response["Retry-After"] = str(decision.retry_after_seconds)
    return response


def _client(request) -> str:
    return policy.client_network(request_client_ip(request))


@never_cache
@csrf_protect
@require_http_methods(["GET", "HEAD", "POST"])
def subscribe(request):
    if request.method != "POST":
        initial = {"email": request.GET.get("email", "")[:320]}
        return _page(request, "subscribe.html", form=SubscribeForm(initial=initial))
    form = SubscribeForm(request.POST)
    window = duration(settings.OPS_SUBSCRIBE_LIMIT_WINDOW_MINUTES * 60, words=True)
    by_ip = services.rate_limit_hit(scope="ip", value=_client(request), limit=settings.OPS_SUBSCRIBE_LIMIT_PER_IP)
    if not by_ip.allowed:
        message = MESSAGE_IP_LIMIT.format(
            wait=duration(by_ip.retry_after_seconds, words=True), limit=settings.OPS_SUBSCRIBE_LIMIT_PER_IP, window=window
        )
        return _limited(request, form, message, by_ip)
    if not form.is_valid():
        return _page(request, "subscribe.html", status=400, form=form)
    address = form.cleaned_data["email"]
    by_address = services.rate_limit_hit(scope="email", value=address, limit=settings.OPS_SUBSCRIBE_LIMIT_PER_ADDRESS)
    if not by_address.allowed:
        message = MESSAGE_ADDRESS_LIMIT.format(
            wait=duration(by_address.retry_after_seconds, words=True),
            limit=settings.OPS_SUBSCRIBE_LIMIT_PER_ADDRESS,
            window=window,
        )
        return _limited(request, form, message, by_address)
    try:
        services.subscription_request(email=address, component_ids=form.cleaned_data["components"], request=request)
    except DomainError as exc:
        form.add_error(None, str(exc))
        return _page(request, "subscribe.html", status=400, form=form)
    return HttpResponseRedirect(reverse("subscribers:sent"))


@never_cache
@require_http_methods(["GET", "HEAD"])
def subscribe_sent(request):
    return _page(request, "subscribe_sent.html")


def _invalid(request, exc: DomainError):
    status = 410 if exc.code == "expired_link" else 400
    return _page(request, "invalid_link.html", status=status, message=str(exc))


@never_cache
@csrf_protect
@require_http_methods(["GET", "HEAD", "POST"])
def confirm(request, token: str):
    if request.method == "POST":
        try:
            subscriber = services.subscriber_confirm(token=token, request=request)
        except DomainError as exc:
            return _invalid(request, exc)
        return _page(
            request,
            "confirmed.html",
            subscriber=subscriber,
            manage_url=reverse("subscribers:manage", args=[tokens.manage_token(subscriber)]),
            components=[c.name for c in subscriber.components.order_by("position", "name")],
        )
    # GET: check the link and ask for the click that confirms (nothing changes on GET).
    try:
        data = tokens.read_confirm_token(token)
    except tokens.BadToken as exc:
        code = "expired_link" if exc.expired else "invalid_link"
        message = (
            services.MESSAGE_LINK_EXPIRED.format(hours=settings.OPS_SUBSCRIBE_CONFIRM_HOURS)
            if exc.expired
            else services.MESSAGE_LINK_INVALID
        )
        return _invalid(request, DomainError(message, code=code))
    subscriber = selectors.subscriber_by_public_id(data.public_id)
    if subscriber is None or subscriber.token_version != data.version:
        return _invalid(request, DomainError(services.MESSAGE_LINK_INVALID, code="invalid_link"))
    return _page(
        request, "confirm.html", subscriber=subscriber, already=subscriber.status == SubscriberStatus.CONFIRMED
    )


@never_cache
@csrf_protect
@require_http_methods(["GET", "HEAD", "POST"])
def manage(request, token: str):
    try:
        subscriber = services.subscriber_from_manage_token(token)
    except DomainError as exc:
        return _invalid(request, exc)
    chosen = list(subscriber.components.values_list("pk", flat=True))
    if request.method == "POST":
        form = ComponentsForm(request.POST)
        if form.is_valid():
            try:
                services.subscriber_set_components(
                    actor=services.LINK_ACTOR,
                    subscriber=subscriber,
                    component_ids=form.cleaned_data["components"],
                    request=request,
                )
            except DomainError as exc:
                form.add_error(None, str(exc))
            else:
                return HttpResponseRedirect(reverse("subscribers:manage", args=[token]) + "?saved=1")
        status = 400
    else:
        form = ComponentsForm(initial={"components": chosen})
        status = 200
    return _page(
        request,
        "manage.html",
        status=status,
        form=form,
        subscriber=subscriber,
        saved=request.GET.get("saved") == "1",
        unsubscribe_url=reverse("subscribers:unsubscribe", args=[token]),
    )


@never_cache
@csrf_exempt
@require_http_methods(["GET", "HEAD", "POST"])
def unsubscribe(request, token: str):
    try:
        subscriber = services.subscriber_from_manage_token(token)
        webhook = None
    except DomainError as exc:
        subscriber = None
        try:
            webhook = selectors.webhook_by_public_id(tokens.read_webhook_token(token))
        except tokens.BadToken:
            webhook = None
        if webhook is None:
            return _invalid(request, exc)
    one_click = request.POST.get("List-Unsubscribe") == "One-Click"
    if request.method != "POST":
        return _page(request, "unsubscribe.html", subscriber=subscriber, webhook=webhook)
    if subscriber is not None:
        services.subscriber_unsubscribe(
            actor=services.LINK_ACTOR,
            subscriber=subscriber,
            via="one-click (List-Unsubscribe-Post)" if one_click else "unsubscribe link",
            request=request,
        )
    elif webhook.status == WebhookStatus.ACTIVE:
        services.webhook_disable(
            actor=services.LINK_ACTOR,
            webhook=webhook,
            reason="unsubscribed through the link in a payload (meta.unsubscribe)",
            request=request,
        )
    return _page(request, "unsubscribed.html", subscriber=subscriber, webhook=webhook)
