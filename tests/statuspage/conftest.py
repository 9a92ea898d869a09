"""Statuspage fixtures: the same page settings, clean document cache and example data set as tests/status."""

from tests.status.conftest import example, fresh_document_cache, page_settings  # noqa: F401
