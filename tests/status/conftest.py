"""Status fixtures: the example page's settings, a clean document cache, the fixed data set."""

from __future__ import annotations

import pytest

from statuspage import caching


@pytest.fixture(autouse=True)
def page_settings(settings):
    """The page the reference example describes."""
    settings.OPS_STATUS_PAGE_ID = "opsportal01"
    settings.OPS_STATUS_PAGE_NAME = "Example Ops Portal"
    settings.OPS_STATUS_PAGE_URL = "http://127.0.0.1:8000"
    settings.OPS_STATUS_PAGE_TIME_ZONE = "Etc/UTC"
    settings.OPS_STATUS_CACHE_SECONDS = 30
    settings.OPS_MAINTENANCE_TZ = "America/Los_Angeles"


@pytest.fixture(autouse=True)
def fresh_document_cache():
    """Each test starts with an empty in-process cache (as a freshly started worker would)."""
    caching.documents.clear()
    yield
    caching.documents.clear()


@pytest.fixture
def example(db):
    from tests.status.factories import build_example

    return build_example()
