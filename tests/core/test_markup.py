"""The one Markdown → HTML path (ersen_ops.core.markup): allow-listed tags, http/https/mailto links only."""

from __future__ import annotations

import pytest

from ersen_ops.core.markup import markdown_to_html
from tests.hostile import BENIGN, XSS_PAYLOADS, executable_markup, visible_text


@pytest.mark.parametrize("payload", XSS_PAYLOADS)
def test_no_payload_of_the_corpus_leaves_executable_markup(payload):
    for inline_headings in (False, True):
        html = markdown_to_html(f"## Update\n\n{payload}\n\nafter", inline_headings=inline_headings)
        assert executable_markup(html) == [], html
        assert "after" in visible_text(html)  # a broken tag does not swallow the rest of the text


def test_benign_text_reads_as_written_with_links_kept():
    html = markdown_to_html(BENIGN)
    assert visible_text(html) == 'latency < 200 ms & AT&T\'s "quotes" bold docs mail us'
    assert '<a href="https://docs.example/a?b=1&amp;c=2" rel="noopener noreferrer nofollow">docs</a>' in html
    assert '<a href="mailto:ops@example.com" rel="noopener noreferrer nofollow">us</a>' in html
    assert "<strong>bold</strong>" in html
    assert "&amp;lt;" not in html  # escaped once, not twice


def test_raw_html_typed_by_an_operator_is_shown_as_text():
    html = markdown_to_html("Use <br> between lines, not <script>")
    assert visible_text(html) == "Use <br> between lines, not <script>"


def test_a_javascript_link_keeps_its_words_and_loses_its_target():
    html = markdown_to_html("[click](javascript:alert(3))")
    assert "javascript" not in html.lower() and visible_text(html) == "click"


def test_lines_headings_and_code_keep_their_shape():
    html = markdown_to_html("## Scheduled\n\n**When**: 02:00\n**Reason**: `a < b`")
    assert "<h2>Scheduled</h2>" in html
    assert "<strong>When</strong>: 02:00<br>" in html and "<code>a &lt; b</code>" in html
    inline = markdown_to_html("## Scheduled", inline_headings=True)
    assert inline == '<p><strong class="heading">Scheduled</strong></p>'
