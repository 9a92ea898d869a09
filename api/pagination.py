"""Cursor pagination of every list of the operations API."""

from rest_framework import pagination


class CursorPagination(pagination.CursorPagination):
    """Newest first, stable under inserts: follow `next` until it is null (an export walks every page)."""

    ordering = "-id"
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 500


def paginated(serializer_class):
    """The OpenAPI shape of a cursor page of `serializer_class` (for `extend_schema(responses=…)`)."""
    from drf_spectacular.utils import inline_serializer
    from rest_framework import serializers

    name = serializer_class.__name__.removesuffix("Serializer")
    return inline_serializer(
        name=f"Paginated{name}List",
        fields={
            "next": serializers.URLField(allow_null=True, help_text="The next page; null on the last one."),
            "previous": serializers.URLField(allow_null=True),
            "results": serializer_class(many=True),
        },
    )
