"""Hostile input to every form of the admin, as a superuser: no 5xx, nothing half-saved.

Every add and change form of every registered ModelAdmin and every extra view its get_urls() adds (workflow
actions with their confirmation forms, "Open an incident", …) is found from `admin.site._registry`, so a form
another developer adds later is swept too. Each page is fetched, its form read back from the HTML (every
input, select and textarea, inline management forms included), and posted again with a bounded set of
hostile values: huge strings, NUL bytes, control characters, deep JSON, wrong types, out-of-range numbers and
dates, invalid UTF-8 and lone surrogates. Each POST runs in a transaction rolled back afterwards, so the demo
world is the same for every POST; a POST that did not redirect (did not save) must leave every row count as
it was unless it saved legitimately (through a service: with its audit record, or answered by a redirect),
and one that saved must leave no orphan (constraints are checked before the rollback).
"""

from __future__ import annotations

import re
from html.parser import HTMLParser
from urllib.parse import urlencode, urlsplit

import pytest
from django import forms as django_forms
from django.apps import apps
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.db import connection, transaction
from django.test import RequestFactory
from django.urls import reverse

from ersen_ops.notifications.choices import DeliveryStatus
from runbooks.choices import ExecutionStatus
from runbooks.models import Host, Runbook
from subscribers.choices import WebhookStatus
from tests.access import record_reauthentication
from tests.notifications.factories import DeliveryFactory
from tests.runbooks.factories import ExecutionFactory
from tests.subscribers.factories import SubscriberFactory, WebhookSubscriberFactory

pytestmark = pytest.mark.django_db

PROJECT_APPS = ("ersen_ops", "incidents", "maintenance", "runbooks", "subscribers")
STANDARD_VIEWS = ("_changelist", "_add", "_history", "_delete", "_change", "_autocomplete")
AUDIT_TABLE = "audit_auditevent"
DEEP_JSON = '{"a":' * 2000 + "1" + "}" * 2000

# (name, value for text fields, for number fields, for date/time fields, for JSON fields). Each POST gives every
# field of a form its kind's value at once: 5 POSTs per form keep the sweep well under a minute.
HOSTILE = [
    ("huge", "x" * 20_000, "9" * 400, "9" * 5000, "[" + "1," * 10_000 + "1]"),
    ("control characters", "Form\r\nX-Evil: 1\x00\x07", "1\x00", "2027-01-12\x00", '{"a": "\\u0000"}'),
    ("deep JSON", DEEP_JSON, "1e400", "0000-00-00", DEEP_JSON),
    (
        "wrong types and ranges",
        "[]",
        "-99999999999999999999999",
        "2027-13-45 25:61",
        '{"a": 1e400, "b": [' * 5 + "]}" * 5,
    ),
    ("bad encoding", b"\xff\xfe\xc3( " + "\ud800".encode("utf-8", "surrogatepass"), b"\xff", b"\xc3(", '["\\ud800"]'),
]


class _Forms(HTMLParser):
    """Every <form method=post> of a page with its fields: name → [(kind, value)]."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.forms: list[dict] = []
        self._form = None
        self._select = None
        self._textarea = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "form":
            self._form = {"action": a.get("action") or "", "method": (a.get("method") or "get").lower(), "fields": []}
            self.forms.append(self._form)
        if self._form is None:
            return
        name = a.get("name")
        if tag == "input" and name:
            kind = (a.get("type") or "text").lower()
            if kind in ("submit", "button", "image", "reset", "file"):
                return
            if kind in ("checkbox", "radio") and "checked" not in a:
                self._form["fields"].append((name, kind, None))
                return
            self._form["fields"].append((name, kind, a.get("value", "on" if kind == "checkbox" else "")))
        elif tag == "select" and name:
            self._select = [name, "select", None, "multiple" in a]
            self._form["fields"].append(self._select)
        elif tag == "option" and self._select is not None:
            if "selected" in a or self._select[2] is None:
                self._select[2] = a.get("value", "")
        elif tag == "textarea" and name:
            self._textarea = [name, "textarea", ""]
            self._form["fields"].append(self._textarea)

    def handle_data(self, data):
        if self._textarea is not None:
            self._textarea[2] += data

    def handle_endtag(self, tag):
        if tag == "form":
            self._form = None
        elif tag == "select":
            self._select = None
        elif tag == "textarea":
            self._textarea = None


def post_form(content: str) -> dict | None:
    """The page's main POST form (the one with most fields; never the logout form)."""
    parser = _Forms()
    parser.feed(content)
    forms = [f for f in parser.forms if f["method"] == "post" and "logout" not in f["action"]]
    return max(forms, key=lambda f: len(f["fields"]), default=None)


def _kind_of(name: str, kind: str, value) -> str:
    if kind in ("number",) or re.search(r"(^|[-_])(port|order|position|number|minutes|seconds|count)$", name):
        return "number"
    if kind in ("date", "time", "datetime-local") or re.search(r"(date|_at|start|end|_0|_1|eta|until|from)$", name):
        return "date"
    if kind == "textarea" and isinstance(value, str) and value.strip()[:1] in ("{", "["):
        return "json"
    if re.search(r"(params|parameter_defaults|details|data)$", name):
        return "json"
    return "text"


def hostile_payload(form: dict, values: tuple) -> list[tuple[str, object]]:
    text, number, date, json_value = values[1:]
    payload = []
    for name, kind, value, *rest in (tuple(f) for f in form["fields"]):
        if value is None:
            continue
        if kind == "hidden" or name.endswith(("TOTAL_FORMS", "INITIAL_FORMS", "MIN_NUM_FORMS", "MAX_NUM_FORMS")):
            payload.append(
                (name, value)
            )  # management forms and tokens stay valid: the fields behind them get the values
            continue
        if kind in ("checkbox", "radio"):
            payload.append((name, value))
            continue
        if kind == "select":
            payload.append((name, text if not rest or not rest[0] else value))  # a wrong choice
            continue
        payload.append(
            (name, {"number": number, "date": date, "json": json_value}.get(_kind_of(name, kind, value), text))
        )
    return payload


def encode(payload) -> bytes:
    """application/x-www-form-urlencoded, with bytes kept as bytes (invalid UTF-8) and lone surrogates passed
    through as the raw bytes a broken client would send."""
    parts = []
    for name, value in payload:
        if isinstance(value, str):
            value = value.encode("utf-8", "surrogatepass")
        parts.append(urlencode({name: value}))
    return "&".join(parts).encode()


def _count_sql() -> str:
    tables = sorted(
        {
            m._meta.db_table
            for m in apps.get_models(include_auto_created=True)
            if not m._meta.proxy and m._meta.managed and m._meta.app_label not in ("sessions", "django_q")
        }
    )
    return "SELECT " + ", ".join(f'(SELECT count(*) FROM "{t}") AS "{t}"' for t in tables)


def counts() -> dict[str, int]:
    """Every table's row count, in one query (through tables of many-to-many fields included)."""
    with connection.cursor() as cursor:
        cursor.execute(_count_sql())
        return dict(zip([c.name for c in cursor.description], cursor.fetchone(), strict=True))


def sweep_urls(user) -> list[str]:
    """Add and change forms and every extra view of every project ModelAdmin; workflow actions by name, each on
    the first object whose state allows it (or, if none does, the first object: the refusal must not be a 5xx)."""
    request = RequestFactory().get("/")
    request.user = user
    urls = []
    for model, model_admin in list(admin.site._registry.items()):
        if not model.__module__.startswith(PROJECT_APPS):
            continue
        info = (model._meta.app_label, model._meta.model_name)
        manager = model._default_manager
        # The oldest and the newest rows (the demo's, and those the fixture adds for states the demo lacks).
        objects = list(dict.fromkeys([*manager.order_by("pk")[:20], *manager.order_by("-pk")[:10]]))
        urls.append(reverse(f"admin:{info[0]}_{info[1]}_add"))
        if objects:
            urls.append(reverse(f"admin:{info[0]}_{info[1]}_change", args=[objects[0].pk]))
        for pattern in model_admin.get_urls():
            name = getattr(pattern, "name", None) or ""
            if not name or name.endswith(STANDARD_VIEWS) or not re.search(r"/$", str(pattern.pattern)):
                continue  # the standard views (above), JSON endpoints
            keys = set(pattern.pattern.converters)
            if "action" in keys:
                names = {}
                for obj in objects:
                    for action in model_admin.get_workflow_actions(request, obj):
                        if action.name not in names and action.available(obj):
                            names[action.name] = obj
                for action in model_admin.get_workflow_actions(request, objects[0] if objects else None):
                    if objects:
                        names.setdefault(action.name, objects[0])  # no object allows it: its refusal is swept
                urls += [reverse(f"admin:{name}", args=[obj.pk, action]) for action, obj in names.items()]
            elif keys and objects:
                urls.append(reverse(f"admin:{name}", args=[objects[0].pk]))
            elif not keys:
                urls.append(reverse(f"admin:{name}"))
    return list(dict.fromkeys(urls))


@pytest.fixture
def world(tmp_path, settings):
    settings.BASE_DIR = tmp_path
    call_command("seed_demo")
    # What the demo has none of, so that every change form and workflow action has an object to work on.
    SubscriberFactory(email="confirmed@example.com")
    WebhookSubscriberFactory()
    WebhookSubscriberFactory(status=WebhookStatus.DISABLED)
    runbook, host = Runbook.objects.filter(enabled=True).first(), Host.objects.first()
    ExecutionFactory(runbook=runbook, host=host)
    ExecutionFactory(runbook=runbook, host=host, status=ExecutionStatus.FAILED, error="exit 1")
    DeliveryFactory(status=DeliveryStatus.FAILED, last_error="HTTP 500")
    return get_user_model().objects.get(username="admin")


def test_every_admin_form_and_workflow_action_survives_hostile_input(client, world):
    client.force_login(world)  # tests/access.py: password and second factor, as allauth records them
    record_reauthentication(client)  # production actions ask for a fresh factor: the sweep reaches their forms
    client.raise_request_exception = False  # a 500 is collected with the others, not raised at the first
    urls = sweep_urls(world)
    assert len(urls) >= 20, urls
    failures, posts = [], 0
    for url in urls:
        page = client.get(url)
        assert page.status_code < 500, url
        if page.status_code != 200:
            continue
        form = post_form(page.content.decode())
        if form is None:
            continue
        target = form["action"] or url
        if urlsplit(target).path.endswith("/logout/"):
            continue
        for values in HOSTILE:
            before = counts()
            with transaction.atomic():
                response = client.post(target, encode(hostile_payload(form, values)),
                                       content_type="application/x-www-form-urlencoded")  # fmt: skip
                posts += 1
                if response.status_code >= 500:
                    exc = getattr(response, "exc_info", None)
                    failures.append(f"{values[0]} → {url}: {response.status_code} {exc[0].__name__ if exc else ''}")
                else:
                    after = counts()
                    changed = {k: (before[k], v) for k, v in after.items() if before.get(k) != v}
                    audited = after[AUDIT_TABLE] > before[AUDIT_TABLE]
                    if changed and not (audited or response.status_code in (301, 302, 303)):
                        failures.append(
                            f"{values[0]} → {url}: {response.status_code}, rows changed unaudited: {changed}"
                        )
                    if changed:
                        connection.check_constraints()  # a legitimate save leaves no orphan
                transaction.set_rollback(True)
    assert failures == [], "\n".join(failures)
    # Fewer means the pages did not open (a login step the superuser did not pass): nothing was swept.
    assert posts >= 150, f"only {posts} POSTs: did the superuser reach the admin's forms?"


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("[" * 11 + "]" * 11, "JSON is nested too deeply: more than 10 levels of [ ] or { }; the limit is 10."),
        ("[" + "1," * 6000 + "1]", "JSON is too long: 12,003 characters; the limit is 10,000."),
        ('"\\u0000"', "JSON text may not contain NUL characters (\\u0000)."),
        ('["\\ud800"]', "JSON text may not contain unpaired surrogates (\\ud800–\\udfff)."),
        ("1e400", "JSON numbers must be finite (no NaN, Infinity or numbers beyond ±1.8e308)."),
        ("1" * 5000, "Enter a valid JSON."),
    ],
)
def test_a_json_form_field_refuses_what_it_cannot_hold_with_the_limit_in_words(value, message):
    from django.core.exceptions import ValidationError

    from ersen_ops.core.forms import LimitedJSONField

    with pytest.raises(ValidationError) as caught:
        LimitedJSONField(required=False).clean(value)
    assert caught.value.messages == [message]


def test_every_json_field_of_every_admin_form_has_the_limits(users):
    from django.db import models

    from ersen_ops.core.forms import LimitedJSONField

    request = RequestFactory().get("/")
    request.user = users["admin"]
    seen = 0
    for model, model_admin in list(admin.site._registry.items()):
        if not model.__module__.startswith(PROJECT_APPS):
            continue
        forms = [model_admin.get_form(request)] + [
            i.get_formset(request).form for i in model_admin.get_inline_instances(request, None)
        ]
        for form in forms:
            for name, field in form.base_fields.items():
                if isinstance(field, django_forms.JSONField):
                    seen += 1
                    assert isinstance(field, LimitedJSONField), f"{model._meta.label}: {name}"
    assert seen >= 2  # host parameter defaults, runbook step parameters
    assert isinstance(models.JSONField().formfield(), django_forms.JSONField)
