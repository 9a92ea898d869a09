"""Filters for notification templates: Markdown → Slack mrkdwn. (Markdown → HTML is `core.markup`.)"""

from __future__ import annotations

import re

from django import template

register = template.Library()

_LINK = re.compile(r"\[([^\]\n]+)\]\((https?://[^)\s]+)\)")
_BOLD = re.compile(r"(\*\*|__)(?=\S)(.+?)(?<=\S)\1")
_ITALIC = re.compile(r"(?<![\w*])\*(?=\S)([^*\n]+?)(?<=\S)\*(?![\w*])")
_STRIKE = re.compile(r"~~(?=\S)(.+?)(?<=\S)~~")
_HEADING = re.compile(r"^#{1,6}[ \t]+(.+?)[ \t]*#*[ \t]*$", re.MULTILINE)
_BULLET = re.compile(r"^([ \t]*)[-*+][ \t]+", re.MULTILINE)
_BOLD_MARK = "\x00"


@register.filter
def slack_escape(text) -> str:
    """Slack wants exactly &, < and > escaped in message text."""
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _mrkdwn_segment(text: str) -> str:
    text = slack_escape(text)
    text = _LINK.sub(lambda m: f"<{m.group(2)}|{m.group(1)}>", text)
    text = _HEADING.sub(lambda m: f"{_BOLD_MARK}{m.group(1)}{_BOLD_MARK}", text)
    text = _BULLET.sub(lambda m: f"{m.group(1)}• ", text)
    text = _BOLD.sub(lambda m: f"{_BOLD_MARK}{m.group(2)}{_BOLD_MARK}", text)
    text = _ITALIC.sub(r"_\1_", text)
    text = _STRIKE.sub(r"~\1~", text)
    return text.replace(_BOLD_MARK, "*")


@register.filter
def mrkdwn(text) -> str:
    """Markdown (as operators write it) → Slack mrkdwn; code blocks are left alone."""
    pieces = str(text).split("```")
    return "```".join(_mrkdwn_segment(p) if i % 2 == 0 else slack_escape(p) for i, p in enumerate(pieces))
