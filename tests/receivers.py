"""Real local receivers for tests: a free loopback port and an SMTP server (aiosmtpd) that keeps every message."""

from __future__ import annotations

import email
import email.policy
import socket
from contextlib import contextmanager


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Mailbox:
    """An aiosmtpd handler keeping every message; chosen recipients can be refused (`refuse[addr] = "550 …"`)."""

    def __init__(self, queue_id: str = "TEST42"):
        self.envelopes = []
        self.refuse: dict[str, str] = {}
        self.queue_id = queue_id

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address in self.refuse:
            return self.refuse[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.envelopes.append(envelope)
        return f"250 2.0.0 Ok: queued as {self.queue_id}"

    def messages(self, to: str | None = None):
        return [
            email.message_from_bytes(e.content, policy=email.policy.default)
            for e in self.envelopes
            if to is None or to in e.rcpt_tos
        ]

    def clear(self):
        self.envelopes.clear()


@contextmanager
def smtp_receiver(settings, mailbox: Mailbox | None = None):
    """A real SMTP server on a free port, with Django's SMTP backend pointed at it (pytest-django `settings`)."""
    from aiosmtpd.controller import Controller

    mailbox = mailbox or Mailbox()
    port = free_port()
    controller = Controller(mailbox, hostname="127.0.0.1", port=port)
    controller.start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST = "127.0.0.1"
    settings.EMAIL_PORT = port
    settings.EMAIL_USE_TLS = False
    settings.EMAIL_USE_SSL = False
    settings.EMAIL_HOST_USER = ""
    settings.EMAIL_HOST_PASSWORD = ""
    try:
        yield mailbox
    finally:
        controller.stop()
