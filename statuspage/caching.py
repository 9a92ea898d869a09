"""Serving public documents from rendered bytes: one version check per request, conditional GET, HEAD.

Every public document (API, page, feeds, calendar) is rendered once per (document, status
version[, day]) per process and kept in a small in-process LRU. A request costs one
primary-key lookup of `StatusVersion` and a dictionary hit; the version moves in the same
transaction as any change the public status shows (see `signals.py`), so the next request
after a commit, in any gunicorn worker, renders the new state.

ETag: a hash of the bytes (identical state → identical ETag in every process).
Last-Modified: when the version last moved (never decreasing), or the start of the day
bucket for documents that also depend on the date (history, calendar), whichever is later.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.http import HttpResponse
from django.utils.cache import get_conditional_response
from django.utils.http import http_date

from ersen_ops.status import selectors
from ersen_ops.status.version_push import watch

MAX_ENTRIES = 256


@dataclass(frozen=True)
class Rendered:
    body: bytes
    content_type: str
    etag: str
    last_modified: int  # epoch seconds
    last_modified_http: str = ""


class RenderedCache:
    """A small thread-safe LRU of rendered documents (per process)."""

    def __init__(self, max_entries: int = MAX_ENTRIES):
        self.max_entries = max_entries
        self._entries: OrderedDict = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key) -> Rendered | None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None:
                self._entries.move_to_end(key)
            return entry

    def put(self, key, entry: Rendered) -> None:
        with self._lock:
            self._entries[key] = entry
            self._entries.move_to_end(key)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)


documents = RenderedCache()


def etag_for(body: bytes) -> str:
    return '"' + hashlib.blake2b(body, digest_size=12).hexdigest() + '"'


def render_entry(body: bytes, content_type: str, last_modified: int) -> Rendered:
    return Rendered(
        body=body,
        content_type=content_type,
        etag=etag_for(body),
        last_modified=last_modified,
        last_modified_http=http_date(last_modified),
    )


def cache_control() -> str:
    return f"public, max-age={settings.OPS_STATUS_CACHE_SECONDS}"


def serve(
    request,
    *,
    key,
    build: Callable[[datetime, object], bytes | None],
    content_type: str,
    bucket: Callable[[], tuple[object, datetime]] | None = None,
    not_found: Callable[[], HttpResponse] | None = None,
) -> HttpResponse:
    """Answer GET/HEAD for the document `key` from the cache, rendering it with `build(version_time, bucket)`
    on a miss. `bucket()` returns (bucket value, bucket start) for documents that depend on the date.
    `build` returning None means "not public": `not_found()` answers (never cached)."""
    # Pushed to this process (LISTEN/NOTIFY) while its listener is connected; else one primary-key lookup.
    version, changed_us = watch.current() or selectors.status_version()
    bucket_value, bucket_start = bucket() if bucket else (None, None)
    cache_key = (key, version, bucket_value)
    entry = documents.get(cache_key)
    if entry is None:
        version_time = selectors.from_us(changed_us)
        body = build(version_time, bucket_value)
        if body is None:
            return not_found()
        last_modified = changed_us // 1_000_000
        if bucket_start is not None:
            last_modified = max(last_modified, int(bucket_start.timestamp()))
        entry = render_entry(body, content_type, last_modified)
        documents.put(cache_key, entry)
    return respond(request, entry)


def respond(request, entry: Rendered) -> HttpResponse:
    response = HttpResponse(b"" if request.method == "HEAD" else entry.body, content_type=entry.content_type)
    response["Content-Length"] = str(len(entry.body))
    response["ETag"] = entry.etag
    response["Last-Modified"] = entry.last_modified_http
    response["Cache-Control"] = cache_control()
    # 304 for a matching If-None-Match, else for If-Modified-Since (a malformed date is ignored).
    return get_conditional_response(request, etag=entry.etag, last_modified=entry.last_modified, response=response)
