"""`{{ text|markdown }}`: operator Markdown as sanitised HTML (see ersen_ops.core.markup)."""

from __future__ import annotations

from django import template

from ersen_ops.core.markup import markdown_to_html

register = template.Library()


@register.filter(is_safe=True)
def markdown(text, option: str = ""):
    """`|markdown` for email and feeds; `|markdown:"inline_headings"` inside a page with its own outline."""
    return markdown_to_html(text, inline_headings=option == "inline_headings")
