"""The lockout page (django-axes' AXES_LOCKOUT_CALLABLE).

It says when to try again and nothing else: not whether the username exists (unknown usernames are counted
and locked exactly like real ones, and nothing here looks a user up), nor which of username and address is
locked.
"""

from __future__ import annotations

import math

from django.shortcuts import render
from django.utils import timezone

from ersen_ops.core.accounts.lockout import attempted_username
from ersen_ops.core.accounts.selectors import cooloff, lockouts
from ersen_ops.core.clients import request_client_ip


def lockout_response(request, original_response=None, credentials=None, *args):
    now = timezone.now()
    username = attempted_username(request, credentials)
    address = getattr(request, "axes_ip_address", None) or request_client_ip(request)
    found = lockouts(now=now, usernames=[username] if username else [], addresses=[address] if address else [])
    # A lockout found by the backend has an end; should it have just expired, a full cool-off is the safe answer.
    until = found.until(username=username, ip_address=address) or now + cooloff()
    response = render(
        request,
        "accounts/lockout.html",
        {
            "title": "Too many failed logins",
            "until": until,
            # Rounded up: "in 15 minutes" right after the locking failure, never "in 0 minutes".
            "minutes_left": max(1, math.ceil((until - now).total_seconds() / 60)),
        },
        status=429,
    )
    response["Retry-After"] = str(max(1, math.ceil((until - now).total_seconds())))
    response["Cache-Control"] = "no-store"
    return response
