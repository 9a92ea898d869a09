"""Cursor pagination of every list of the operations API."""

from rest_framework import pagination


class CursorPagination(pagination.CursorPagination):
    """Newest first, stable under inserts: follow `next` until it is null (an export walks every page)."""

    ordering = "-id"
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 500
