"""Load demo data (idempotent) and create the demo logins if there are none.

Each app may contribute a `demo.py` with `seed(stdout)`; they run in
INSTALLED_APPS order. Credentials are generated once, kept in
`.demo-credentials` (git-ignored) and printed on every run.
"""

import secrets
from pathlib import Path

from django.apps import apps
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils.module_loading import import_string, module_has_submodule

from ersen_ops.config import url_of_addr
from ersen_ops.core import roles
from ersen_ops.core.access.demo_factors import NoTOTP, current_code, ensure_demo_totp

DEMO_USERS = [
    ("admin", None),
    ("operator", roles.OPERATORS),
    ("approver", roles.APPROVERS),
    ("commander", roles.INCIDENT_COMMANDERS),
    ("viewer", roles.VIEWERS),
]


class Command(BaseCommand):
    help = "Load demo data and demo logins (running it twice changes nothing)."

    def add_arguments(self, parser):
        parser.add_argument("--quiet-credentials", action="store_true", help="Do not print the logins.")
        parser.add_argument(
            "--url", default=None, help="Where the portal will be served (default: OPS_RUN_ADDR, which make run sets)."
        )

    def handle(self, *args, **options):
        creds_file = Path(settings.BASE_DIR) / ".demo-credentials"
        known = {}
        if creds_file.exists():
            for line in creds_file.read_text().splitlines():
                if ":" in line:
                    user, password = line.split(":", 1)
                    known[user] = password
        with transaction.atomic():
            roles.sync_roles()
            self._seed_users(known)
            self._seed_second_factors()
            for config in apps.get_app_configs():
                if module_has_submodule(config.module, "demo"):
                    import_string(f"{config.name}.demo.seed")(self.stdout)
        creds_file.write_text("".join(f"{u}:{p}\n" for u, p in known.items()))
        creds_file.chmod(0o600)
        if not options["quiet_credentials"]:
            url = (options["url"] or url_of_addr(settings.OPS_RUN_ADDR)).rstrip("/")
            self.stdout.write(f"\nErsen Ops is at {url}/admin/  (public status page: {url}/)")
            self.stdout.write("Logins (kept in .demo-credentials); a second factor is asked after the password:")
            User = get_user_model()
            for user, role in DEMO_USERS:
                if user in known:
                    line = f"  {user:10} {known[user]:24} {role or 'superuser':20}"
                    account = User.objects.filter(username=user).first()
                    code = _code_hint(account) if account else ""
                    self.stdout.write(f"{line} {code}".rstrip())

    def _seed_second_factors(self):
        """Every demo login whose role needs a second factor gets an authenticator app (TOTP) enrolled."""
        User = get_user_model()
        for username, _role in DEMO_USERS:
            user = User.objects.filter(username=username).first()
            if user is not None:
                ensure_demo_totp(user)

    def _seed_users(self, known):
        User = get_user_model()
        for username, role in DEMO_USERS:
            if User.objects.filter(username=username).exists():
                continue
            password = secrets.token_urlsafe(12)
            if role is None:
                user = User.objects.create_superuser(username, f"{username}@ersen.xyz", password)
            else:
                user = User.objects.create_user(username, f"{username}@ersen.xyz", password, is_staff=True)
                user.groups.add(Group.objects.get(name=role))
            known[username] = password


def _code_hint(user) -> str:
    """'code: make code U=operator (now 123456)' for a login with a TOTP, '' for one without."""
    try:
        code, _seconds = current_code(user)
    except NoTOTP:
        return ""
    return f"code: make code U={user.get_username()}  (now {code})"
