"""Print a user's current authenticator-app code (demo logins: `make code U=operator`)."""

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from ersen_ops.core.access.demo_factors import NoTOTP, current_code, totp_secret


class Command(BaseCommand):
    help = "Print USERNAME's current TOTP code (what their authenticator app shows now)."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--secret", action="store_true", help="Also print the secret, to add it to an app.")

    def handle(self, *args, **options):
        username = options["username"]
        try:
            user = get_user_model().objects.get(username=username)
        except get_user_model().DoesNotExist:
            raise CommandError(f"no user named {username!r} (demo logins: see .demo-credentials)") from None
        try:
            code, seconds_left = current_code(user)
        except NoTOTP as exc:
            raise CommandError(f"{exc}: they log in with the password alone, or enrol one under My account") from None
        self.stdout.write(code)
        self.stderr.write(f"valid for {seconds_left} more seconds; a used code is refused until the next one")
        if options["secret"]:
            self.stderr.write(f"secret for an authenticator app: {totp_secret(user)}")
