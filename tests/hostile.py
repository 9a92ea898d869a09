"""Hostile operator text and an HTML inspector, shared by the sanitiser tests and the admin sweep.

`XSS_PAYLOADS` is the corpus every HTML output is tested with; `executable_markup(html)` lists what
in a piece of HTML could run in a browser, a mail client or a feed reader (empty = safe).
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

XSS_PAYLOADS = [
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(2)>",
    "<IMG SRC=x OnErRoR=alert(2)>",
    "<body onload=alert(1)>",
    '<a href="javascript:alert(1)">x</a>',
    "[click](javascript:alert(3))",
    "[click](JaVaScRiPt:alert(3))",
    "[click](jav&#x61;script:alert(3))",
    "[click](jav&#97;script&#58;alert(3))",
    "[click](&#106;&#97;&#118;&#97;&#115;&#99;&#114;&#105;&#112;&#116;&#58;alert(3))",
    "[click](%6A%61%76%61script:alert(3))",
    "[click]( javascript:alert(3))",
    "[click](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
    "[click](vbscript:msgbox(1))",
    "[click](VBScript:msgbox(1))",
    '[click](https://ok.example/" onmouseover="alert(1))',
    '[click](https://ok.example/ "title\\" onmouseover=\\"alert(1)")',
    "![img](javascript:alert(1))",
    '![x" onerror="alert(1)](https://ok.example/x.png)',
    "<svg onload=alert(1)><circle r=1 /></svg>",
    "<svg><script>alert(1)</script></svg>",
    "<math><mtext><table><mglyph><style><img src=x onerror=alert(1)>",
    "<iframe src=javascript:alert(1)></iframe>",
    "<object data=javascript:alert(1)></object><embed src=x>",
    '<div style="background:url(javascript:alert(1))">x</div>',
    '<p style="width: expression(alert(1))">x</p>',
    "<style>*{background:url(javascript:alert(1))}</style>",
    "<scr<script>ipt>alert(1)</scr</script>ipt>",
    "<<script>script>alert(1)<</script>/script>",
    '<a href="java\nscript:alert(1)">x</a>',
    "<img src=x onerror=alert(1)//",
    "<!--<script>alert(1)</script>-->",
    '<form action="javascript:alert(1)"><button>x</button></form>',
    '<meta http-equiv="refresh" content="0;url=javascript:alert(1)">',
    "<base href=javascript:alert(1)//>",
    "```\n</code></pre><script>alert(1)</script>\n```",
    "`</code><script>alert(1)</script>`",
    '<https://ok.example/"onmouseover="alert(1)>',
    "<javascript:alert(1)>",
]

BENIGN = 'latency < 200 ms & AT&T\'s "quotes" **bold** [docs](https://docs.example/a?b=1&c=2) mail [us](mailto:ops@example.com)'

SAFE_SCHEMES = ("http:", "https:", "mailto:")
# Tags whose presence alone means markup could run or load something.
DANGEROUS_TAGS = {
    "script", "style", "iframe", "frame", "object", "embed", "svg", "math", "img", "form", "input", "button",
    "base", "meta", "link", "body", "html", "textarea", "select", "audio", "video", "source", "template",
}  # fmt: skip
URL_ATTRIBUTES = {"href", "src", "action", "formaction", "data", "xlink:href", "background", "poster", "srcset"}


class _Inspector(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.problems: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag in DANGEROUS_TAGS:
            self.problems.append(f"<{tag}>")
        for name, value in attrs:
            if name.startswith("on"):
                self.problems.append(f"<{tag} {name}=…>")
            elif name == "style":
                self.problems.append(f"<{tag} style=…>")
            elif name in URL_ATTRIBUTES and value is not None:
                # What a browser does: drop whitespace/control characters, compare the scheme case-insensitively.
                url = re.sub(r"[\x00-\x20]", "", value).lower()
                if ":" in url.split("/")[0] and not url.startswith(SAFE_SCHEMES):
                    self.problems.append(f"<{tag} {name}={value!r}>")

    handle_startendtag = handle_starttag

    def handle_data(self, data):
        self.text.append(data)


def executable_markup(html: str) -> list[str]:
    """What in `html` could execute (tags, event handlers, style, non-http(s)/mailto URLs)."""
    inspector = _Inspector()
    inspector.feed(html)
    inspector.close()
    return inspector.problems


def visible_text(html: str) -> str:
    """The text a reader sees, entities decoded, whitespace collapsed."""
    inspector = _Inspector()
    inspector.feed(html)
    inspector.close()
    return re.sub(r"\s+", " ", "".join(inspector.text)).strip()
