"""The admin's view of single sign-on: who is linked to which subject, read-only.

allauth registers admins for provider apps (client id and secret in the database), tokens and links. Here the
provider comes from the environment only and tokens are not stored, so those two are removed; links can be
looked at, not edited (changing a link would hand an account to another person unaudited).
Called from the composition root (ersen_ops/urls.py), after allauth's admin module has registered its own.
"""

from __future__ import annotations

from allauth.socialaccount.models import SocialAccount, SocialApp, SocialToken
from django.contrib import admin


class SocialAccountReadOnlyAdmin(admin.ModelAdmin):
    list_display = ["user", "provider", "uid", "last_login", "date_joined"]
    search_fields = ["uid", "user__username"]
    list_filter = ["provider"]
    readonly_fields = ["user", "provider", "uid", "last_login", "date_joined", "extra_data"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


def adjust(site: admin.AdminSite) -> None:
    for model in (SocialApp, SocialToken, SocialAccount):
        if site.is_registered(model):
            site.unregister(model)
    site.register(SocialAccount, SocialAccountReadOnlyAdmin)
