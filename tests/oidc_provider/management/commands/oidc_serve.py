"""Prepare the provider's SQLite database (migrate, the portal's confidential client) and serve on ADDR."""

from __future__ import annotations

import os

from django.core.management import call_command
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Migrate, register the portal as a confidential client, then serve (test OpenID Connect provider)."

    def add_arguments(self, parser):
        parser.add_argument("addr", help="host:port to listen on")

    def handle(self, *args, addr, **options):
        from oauth2_provider.models import Application

        call_command("migrate", verbosity=0, interactive=False)
        Application.objects.update_or_create(
            client_id=os.environ["OIDC_PROVIDER_CLIENT_ID"],
            defaults={
                "name": "Ersen Ops (tests)",
                "client_secret": os.environ["OIDC_PROVIDER_CLIENT_SECRET"],  # hashed on save
                "client_type": Application.CLIENT_CONFIDENTIAL,
                "authorization_grant_type": Application.GRANT_AUTHORIZATION_CODE,
                "redirect_uris": " ".join(os.environ.get("OIDC_PROVIDER_REDIRECT_URIS", "").split()),
                "algorithm": Application.RS256_ALGORITHM,
                "skip_authorization": True,  # no consent screen: the portal is a first-party client
            },
        )
        call_command("runserver", addr, use_reloader=False, use_threading=True, skip_checks=True)
