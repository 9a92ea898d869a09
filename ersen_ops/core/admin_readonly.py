"""Admins of records (runs, occurrences, backups): shown, never added, edited or deleted through the admin; their
state changes go through the services (workflow actions)."""

from __future__ import annotations


class RecordAdminMixin:
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
