"""The browser side: what the model writes is shown as text, never as markup or script; widget
comm messages can only ask for a fixed set of harmless actions (no code, no files)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from ipyagent.kernel.approval import Approval
from ipyagent.kernel.views import Line, answer_line, approval_lines, bundle
from ipyagent.markdown import to_html

WIDGETS = Path(__file__).resolve().parents[2] / "src" / "ipyagent" / "widgets"
HOSTILE = '<img src=x onerror="alert(1)"><script>Jupyter.notebook.kernel.execute("import os")</script>'


def test_cell_views_show_model_text_as_text() -> None:
    html = bundle([Line("assistant", HOSTILE), Line("notification", HOSTILE)], HOSTILE)["text/html"]
    assert "<img" not in html and "<script" not in html
    assert html.count("&lt;script&gt;") == 3


def test_answers_rendered_as_markdown_keep_the_models_html_as_text() -> None:
    """Markdown makes lists and code blocks, never the model's own tags, scripts, handlers,
    ``javascript:`` links or images fetched unasked."""
    hostile = (
        HOSTILE + "\n\n[click](javascript:alert(1)) ![x](http://tracker.example/p.png) "
        '<a href="javascript:alert(1)">x</a>\n\n```html\n<script>alert(1)</script>\n```'
    )
    for html in (to_html(hostile), bundle([answer_line(hostile)], "")["text/html"]):
        assert "<img" not in html and "<script" not in html and 'href="javascript' not in html
        assert "onerror=" not in html.replace("onerror=&quot;", "")
        assert "&lt;script&gt;Jupyter.notebook" in html  # the model's tag, as text
        assert '<a href="http://tracker.example/p.png"' in html  # the image only as a link


def test_code_to_approve_reads_as_it_runs() -> None:
    """No bidirectional override or zero-width character can make the code look harmless."""
    code = 'access = "user\u202e \u2066# admin\u2069 \u2066"\nif access != "none\u200b": delete()'
    shown = "\n".join(line.text for line in approval_lines([Approval("r1", "run_python", code)]))
    assert "\\u202e" in shown and "\\u2066" in shown and "\\u200b" in shown
    assert not any(ch in shown for ch in "\u202e\u2066\u2069\u200b")


def test_widget_scripts_put_no_data_into_html() -> None:
    """Entries reach the page through textContent; the only HTML written is a fixed template
    and, in the chat box, an answer the kernel rendered from Markdown (see the test above)."""
    sinks = re.compile(r"innerHTML|outerHTML|insertAdjacentHTML|document\.write|\beval\(|new Function")
    found = []
    extension = WIDGETS.parent / "labextension" / "static"
    for path in sorted([*WIDGETS.glob("*.js"), *WIDGETS.glob("js/*.js"), *extension.glob("*.js")]):
        for n, line in enumerate(path.read_text().splitlines(), 1):
            if sinks.search(line):
                found.append(f"{path.name}:{n}")
    assert len(found) == 2 and found[0].startswith("chat.js:") and found[1].startswith("voice.js:"), found
    chat = (WIDGETS / "js" / "chat.js").read_text()
    assert "if (html) d.innerHTML = html;" in chat  # only the kernel's rendering, nothing else
    voice = (WIDGETS / "voice.js").read_text()
    template = voice.split("root.innerHTML = `", 1)[1].split("`;", 1)[0]
    # Its only interpolations are the two icon constants.
    assert re.findall(r"\$\{([^}]*)\}", template) == ["MIC_SVG", "SPEAKER_SVG"]


pytest.importorskip("anywidget")


def test_comm_messages_name_only_fixed_actions() -> None:
    from ipyagent.widgets.chat import ChatBox
    from ipyagent.widgets.ledger import LedgerView
    from ipyagent.widgets.tree import AgentTree
    from ipyagent.widgets.wire import WireError, parse_client

    actions = {cls.__name__: set(cls.accepts) for cls in (ChatBox, LedgerView, AgentTree)}
    assert actions == {
        "ChatBox": {"send", "interrupt"},
        "LedgerView": {"sync", "follow", "window", "filter"},
        "AgentTree": {"cancel"},
    }
    for msg in (
        {"type": "exec", "code": "import os"},
        {"type": "approve", "id": "r1"},
        {"type": "open", "path": "/etc/passwd"},
        {"type": "send", "text": ["not", "text"]},
        "import os",
    ):
        with pytest.raises(WireError):
            parse_client(msg, ChatBox.accepts | {"hello", "bye"})
