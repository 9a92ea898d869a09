"""Link an existing account to the SSO provider's subject (or remove the link): `manage.py sso_link alice <sub>`.

Without a link, the first SSO login of a person makes a new account (users are matched by subject only); link
first to keep an existing account, its history and its roles. Audited (actor system:cli).
"""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from ersen_ops.core.errors import DomainError
from ersen_ops.core.sso import services


class Command(BaseCommand):
    help = "Link USERNAME to the SSO provider's subject SUBJECT (its `sub` claim), or --unlink it."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("subject", nargs="?", default="")
        parser.add_argument("--unlink", action="store_true", help="remove the account's link instead")

    def handle(self, *args, username, subject, unlink, **options):
        user = get_user_model().objects.filter(username=username).first()
        if user is None:
            raise CommandError(f"No user named {username!r}.")
        try:
            if unlink:
                old = services.user_unlink_sso(actor="system:cli", user=user)
                self.stdout.write(f"{username} is no longer linked (was subject {old}).")
            else:
                services.user_link_sso(actor="system:cli", user=user, subject=subject)
                self.stdout.write(f"{username} is linked to subject {subject}: their next SSO login is this account.")
        except DomainError as exc:
            raise CommandError(str(exc)) from None
