"""One HTML file that needs nothing else: style, Vega, the page's script and the run's data inline.

The data goes in once, as JSON in a `<script type="application/json">` element, with every
`<`, `>` and `&` written as a JSON escape: model answers are untrusted, and an answer holding
`</script><script>...` must stay a string. The page's script renders everything through
`textContent`. As a second wall, a Content-Security-Policy admits only the two scripts this
module inlines (by their SHA-256) and no network at all, so even markup that slipped through
could neither run nor fetch. ('unsafe-eval' stays: Vega compiles its expressions with
`Function`.)
"""

from __future__ import annotations

import base64
import functools
import hashlib
import html
import re
from pathlib import Path

from common.report.data import ReportData

ASSETS = Path(__file__).resolve().parent / "assets"
_SLOT = re.compile(r"@@(CSP|TITLE|STYLE|DATA|VEGA|APP)@@")
_JSON_ESCAPES = {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"}
_JSON_UNSAFE = re.compile("[<>&\u2028\u2029]")


# What the bundle exposes: the page draws with vega-embed alone.
EMBED_SNIPPET = "window.vegaEmbed = vegaEmbed;"


class PageError(Exception):
    """The page cannot be assembled safely (an asset that would end its own script element)."""


@functools.cache
def vega_bundle() -> str:
    """Vega, Vega-Lite and vega-embed as one script, from the installed vl-convert (2-3 s, so once)."""
    import vl_convert

    bundle: str = vl_convert.javascript_bundle(EMBED_SNIPPET)
    return _inline_script(bundle, "the vl-convert JavaScript bundle")


def _inline_script(source: str, what: str) -> str:
    lowered = source.lower()
    if "</script" in lowered or "<!--" in lowered:
        raise PageError(f"{what} contains '</script' or '<!--' and cannot be inlined safely")
    return source


def embedded_json(data: ReportData) -> str:
    """The data as JSON text that cannot end (or comment out) the script element it sits in."""
    return _JSON_UNSAFE.sub(lambda m: _JSON_ESCAPES[m.group(0)], data.model_dump_json(by_alias=True))


def _sha256(source: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(source.encode()).digest()).decode() + "'"


def render_page(data: ReportData) -> str:
    vega = vega_bundle()
    app = _inline_script((ASSETS / "report.js").read_text(encoding="utf-8"), "report.js")
    style = (ASSETS / "report.css").read_text(encoding="utf-8")
    if "</style" in style.lower():
        raise PageError("report.css contains '</style'")
    csp = (
        f"default-src 'none'; script-src {_sha256(vega)} {_sha256(app)} 'unsafe-eval'; style-src 'unsafe-inline';"
        " img-src data: blob:; font-src data:; connect-src 'none'; base-uri 'none'; form-action 'none'"
    )
    slots = {
        "CSP": csp,
        "TITLE": html.escape(data.title),
        "STYLE": style,
        "DATA": embedded_json(data),
        "VEGA": vega,
        "APP": app,
    }
    template = (ASSETS / "report.html").read_text(encoding="utf-8")
    # One pass: text put into a slot is never searched for slots again.
    return _SLOT.sub(lambda m: slots[m.group(1)], template)
