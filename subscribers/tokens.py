"""Signed links in subscriber email and webhook payloads (Django's signing, keyed by SECRET_KEY).

- confirm: `{"s": public_id, "v": token_version}`, timestamped, expires after OPS_SUBSCRIBE_CONFIRM_HOURS;
- manage: the same payload without expiry (unsubscribe and preference links must keep working for
  as long as the email may be read), revoked by bumping `token_version` when the address unsubscribes;
- webhook: `{"w": public_id}` for the `meta.unsubscribe` link of a payload.

Manage and webhook links carry no timestamp: the same subscriber and version always give the same link, so the
List-Unsubscribe header and the body of one message agree whatever second each was written in. Links written
before, with a timestamp, still read.

Salts keep the kinds apart: a manage token is not a confirm token. Nothing in a token is secret;
the signature is what makes it unforgeable.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.core import signing

CONFIRM_SALT = "ersen.subscribers.confirm"
MANAGE_SALT = "ersen.subscribers.manage"
WEBHOOK_SALT = "ersen.subscribers.webhook"


class BadToken(Exception):
    """The link is malformed, forged, of another kind, or (confirm) expired."""

    def __init__(self, message: str, *, expired: bool = False):
        super().__init__(message)
        self.expired = expired


@dataclass(frozen=True)
class TokenData:
    public_id: str
    version: int


def confirm_token(subscriber) -> str:
    return signing.dumps({"s": subscriber.public_id, "v": subscriber.token_version}, salt=CONFIRM_SALT, compress=True)


def _stable(data: dict, salt: str) -> str:
    return signing.Signer(salt=salt).sign_object(data, compress=True)


def _read_stable(token: str, salt: str):
    if token.count(signing.Signer().sep) == 2:  # value:timestamp:signature, a link written before links were stable
        return signing.loads(token, salt=salt)
    return signing.Signer(salt=salt).unsign_object(token)


def manage_token(subscriber) -> str:
    return _stable({"s": subscriber.public_id, "v": subscriber.token_version}, MANAGE_SALT)


def webhook_token(webhook) -> str:
    return _stable({"w": webhook.public_id}, WEBHOOK_SALT)


def _subscriber_data(data) -> TokenData:
    if not isinstance(data, dict) or not isinstance(data.get("s"), str) or not isinstance(data.get("v"), int):
        raise BadToken("malformed link")
    return TokenData(public_id=data["s"], version=data["v"])


def read_confirm_token(token: str) -> TokenData:
    max_age = settings.OPS_SUBSCRIBE_CONFIRM_HOURS * 3600
    try:
        return _subscriber_data(signing.loads(token, salt=CONFIRM_SALT, max_age=max_age))
    except signing.SignatureExpired:
        raise BadToken("expired confirmation link", expired=True) from None
    except signing.BadSignature:
        raise BadToken("invalid confirmation link") from None


def read_manage_token(token: str) -> TokenData:
    try:
        return _subscriber_data(_read_stable(token, MANAGE_SALT))
    except signing.BadSignature:
        raise BadToken("invalid link") from None


def read_webhook_token(token: str) -> str:
    try:
        data = _read_stable(token, WEBHOOK_SALT)
    except signing.BadSignature:
        raise BadToken("invalid link") from None
    if not isinstance(data, dict) or not isinstance(data.get("w"), str):
        raise BadToken("malformed link")
    return data["w"]


def public_url(path: str) -> str:
    """An absolute link on the public status site (emails are read far from any request)."""
    return settings.OPS_STATUS_PAGE_URL.rstrip("/") + path


def confirm_url(subscriber) -> str:
    return public_url(f"/subscriptions/confirm/{confirm_token(subscriber)}")


def manage_url(subscriber) -> str:
    return public_url(f"/subscriptions/manage/{manage_token(subscriber)}")


def unsubscribe_url(subscriber) -> str:
    return public_url(f"/subscriptions/unsubscribe/{manage_token(subscriber)}")


def webhook_unsubscribe_url(webhook) -> str:
    return public_url(f"/subscriptions/unsubscribe/{webhook_token(webhook)}")
