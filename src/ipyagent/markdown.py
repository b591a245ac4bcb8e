"""The agent's answers as Markdown: rendered to HTML on the kernel side (markdown-it-py, with
Pygments colouring fenced code), so the notebook, its saved file and nbconvert all show the same
thing and nothing loads from the network.

The HTML is safe to put into a page: raw HTML in the answer is shown as text (``html`` is off),
links go through markdown-it's own check (no ``javascript:`` or ``data:`` targets) and open in a
new tab, images become links (nothing is fetched unasked), and every attribute comes from the
templates below, never from the answer. A code block
carries two buttons, "copy" and "insert as a new cell below"; they are hidden unless the ipyagent
JupyterLab extension is there to act on them (it shows them by adding a style), so a static
export never shows a button that does nothing.
"""

from __future__ import annotations

import functools
import html
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from markdown_it import MarkdownIt
    from markdown_it.token import Token

MAX_CHARS = 200_000  # longer answers are shown as text: rendering them would stall the view
_BAR_STYLE = "display:flex;gap:6px;align-items:center;font-size:85%;color:#57606a;margin:0 0 2px 0"
_BUTTON_STYLE = "display:none"  # the JupyterLab extension shows them (see labextension/)
_PRE_STYLE = (
    "margin:0;padding:6px 8px;background:var(--jp-cell-editor-background,#f6f8fa);"
    "border:1px solid var(--jp-border-color2,#e0e0e0);border-radius:4px;overflow-x:auto;"
    "font-family:var(--jp-code-font-family,monospace);font-size:var(--jp-code-font-size,13px);"
    "line-height:1.4;white-space:pre"
)


@functools.lru_cache(maxsize=512)
def to_html(text: str) -> str:
    """``text`` (Markdown) as HTML for a notebook output or a widget. Cached: views redraw many
    times a second, and an answer already shown does not change. Without markdown-it-py (no
    ``lab`` extra) the text is shown as it is."""
    if len(text) > MAX_CHARS:
        return f'<pre style="white-space:pre-wrap">{html.escape(text)}</pre>'
    try:
        parser = _parser()
    except ImportError:
        return f'<div style="white-space:pre-wrap">{html.escape(text)}</div>'
    return str(parser.render(text))


@functools.cache
def _parser() -> MarkdownIt:
    from markdown_it import MarkdownIt

    md = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False})
    md.enable(["table", "strikethrough"])
    md.add_render_rule("fence", _fence)
    md.add_render_rule("code_block", _fence)
    md.add_render_rule("link_open", _link_open)
    md.add_render_rule("table_open", _table_open)
    md.add_render_rule("image", _image)
    return md


def _fence(self: Any, tokens: Sequence[Token], idx: int, options: Any, env: Any) -> str:
    token = tokens[idx]
    lang = token.info.strip().split(maxsplit=1)[0] if token.info.strip() else ""
    return code_block(token.content, lang)


def code_block(code: str, lang: str = "") -> str:
    """A code block with its language, its two action buttons and coloured code."""
    label = html.escape(lang) if lang else "code"
    buttons = "".join(
        f'<button type="button" data-ipyagent-action="{action}" style="{_BUTTON_STYLE}" '
        f'title="{title}">{text}</button>'
        for action, text, title in (
            ("copy", "copy", "copy this code to the clipboard"),
            ("insert-cell", "insert as a new cell below", "put this code into a new cell under this one"),
        )
    )
    return (
        f'<div class="ipyagent-code" data-lang="{label}" style="margin:4px 0">'
        f'<div class="ipyagent-code-bar" style="{_BAR_STYLE}"><span>{label}</span>{buttons}</div>'
        f'<pre style="{_PRE_STYLE}"><code>{highlight(code, lang)}</code></pre></div>'
    )


def highlight(code: str, lang: str) -> str:
    """``code`` as HTML with inline colours (they survive nbconvert and need no style sheet);
    escaped plain text when the language is unknown."""
    code = code.removesuffix("\n")
    if not lang:
        return html.escape(code)
    from pygments import highlight as pygmentize
    from pygments.formatters import HtmlFormatter
    from pygments.lexers import get_lexer_by_name
    from pygments.util import ClassNotFound

    try:
        lexer = get_lexer_by_name(lang, stripnl=False, ensurenl=False)
    except ClassNotFound:
        return html.escape(code)
    out: str = pygmentize(code, lexer, HtmlFormatter(nowrap=True, noclasses=True, style="friendly"))
    return out.removesuffix("\n")


def _link_open(self: Any, tokens: Sequence[Token], idx: int, options: Any, env: Any) -> str:
    tokens[idx].attrSet("target", "_blank")
    tokens[idx].attrSet("rel", "noopener noreferrer")
    return str(self.renderToken(tokens, idx, options, env))


def _table_open(self: Any, tokens: Sequence[Token], idx: int, options: Any, env: Any) -> str:
    tokens[idx].attrSet("class", "ipyagent-table")
    return str(self.renderToken(tokens, idx, options, env))


def _image(self: Any, tokens: Sequence[Token], idx: int, options: Any, env: Any) -> str:
    # An image would be fetched by the page as soon as it is shown (a request the user did not
    # make, to an address the model chose): it is shown as a link the user may follow.
    token = tokens[idx]
    src = html.escape(str(token.attrGet("src") or ""))
    alt = html.escape(self.renderInlineAsText(token.children or [], options, env) or "image")
    return f'<a href="{src}" target="_blank" rel="noopener noreferrer">🖼 {alt}</a>'
