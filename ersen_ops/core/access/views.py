"""The operator's own account page ("My account" in the admin header)."""

from __future__ import annotations

from django.contrib.admin import site as admin_site
from django.contrib.auth.decorators import login_required
from django.template.response import TemplateResponse


@login_required
def account_overview(request):
    user = request.user
    context = {
        **admin_site.each_context(request),
        "title": "My account",
        "roles": sorted(user.groups.values_list("name", flat=True)),
    }
    return TemplateResponse(request, "account/overview.html", context)
