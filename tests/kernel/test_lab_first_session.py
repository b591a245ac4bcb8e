"""A first session in JupyterLab, in a real Chromium, on the ipyagent kernel with its JupyterLab
extension: answers render as Markdown and a code block becomes a new cell with one click; a
request to run code is answered with its own "Run" button (and a late click on a cancelled one
runs nothing and says why); %timeline opened after the work shows it from the start; %agents
names what its cancel button stops; %ledger is as tall as its rows; %voice without a microphone
says so where the eye is."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook

from ipyagent.testing.lab import JupyterLab, launch_chromium
from support.labkit import ARTIFACTS, LAB_TEST, scripted_lab

pytestmark = LAB_TEST

CODE = "total = sum(range(10))\nprint(f'total: {total}')"
ANSWER = (
    "Here is **how** it works:\n\n- add the numbers\n- print `total`\n\n"
    "| n | square |\n|---|---|\n| 2 | 4 |\n| 3 | 9 |\n\n"
    f"```python\n{CODE}\n```\n\nRun it <b>twice</b> if you like."
)
COUNT = "clicks = globals().get('clicks', 0) + 1\nclicks"
SCRIPT = [
    {"delay": 0.3, "text": ANSWER},
    {
        "delay": 0.2,
        "text": "Let me count.",
        "tool_calls": [{"name": "run_python", "arguments": {"code": COUNT}}],
    },
    {"delay": 0.2, "text": "Counted."},
    {
        "delay": 0.2,
        "text": "Once more.",
        "tool_calls": [{"name": "run_python", "arguments": {"code": COUNT}}],
    },
    {"delay": 0.2, "text": "Counted again."},
]


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[JupyterLab]:
    with scripted_lab(tmp_path, SCRIPT) as server:
        yield server


def notebook(lab: JupyterLab, name: str, cells: list[str]) -> str:
    nb = new_notebook(
        cells=[new_code_cell(c) for c in cells],
        metadata={
            "kernelspec": {"name": "ipyagent", "display_name": "Python 3 (ipyagent)", "language": "python"}
        },
    )
    nbformat.write(nb, lab.root / name)
    return lab.notebook_url(name)


def shot(page: Any, name: str, target: Any = None) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    (target or page).screenshot(path=str(ARTIFACTS / f"{name}.png"))


def run_cell(page: Any, cell: Any) -> None:
    cell.locator(".jp-InputArea-editor").click()
    page.keyboard.press("Control+Enter")


def open_notebook(page: Any, url: str, cells: int) -> Any:
    from playwright.sync_api import expect

    page.goto(url)
    found = page.locator(".jp-Notebook .jp-CodeCell")
    expect(found).to_have_count(cells, timeout=60_000)
    page.get_by_text("Python 3 (ipyagent) | Idle").wait_for(timeout=60_000)
    return found


def test_markdown_answers_code_to_a_new_cell_run_buttons_and_the_views(lab: JupyterLab) -> None:
    from playwright.sync_api import expect, sync_playwright

    url = notebook(
        lab,
        "first.ipynb",
        ["%agent Show me how to add numbers", "%timeline", "%agents", "%agent Count the clicks",
         "%agent Count them again", "%cancel main", "clicks", "%ledger", "%chat"],
    )  # fmt: skip
    with sync_playwright() as p:
        browser = launch_chromium(p)
        context = browser.new_context(viewport={"width": 1400, "height": 1000})
        context.grant_permissions(["clipboard-read", "clipboard-write"], origin=lab.url)
        page = context.new_page()
        try:
            cells = open_notebook(page, url, 9)
            answer, timeline, tree, count, again, cancel, clicks, ledger, chat = (
                cells.nth(i) for i in range(9)
            )

            # 1. The answer is Markdown: a list, a table, inline code, highlighted code, and the
            # answer's own HTML shown as text.
            run_cell(page, answer)
            view = answer.locator(".ipyagent-md")
            expect(view.locator("li")).to_have_count(2, timeout=20_000)
            expect(view.locator("table td")).to_have_count(4)
            expect(view.locator("strong")).to_have_text("how")
            expect(view.locator("li code").first).to_have_text("total")
            block = view.locator(".ipyagent-code")
            expect(block.locator("pre")).to_have_text(CODE)
            assert block.locator("pre span[style*='color']").count() >= 3  # highlighted
            assert view.locator("b").count() == 0 and "<b>twice</b>" in view.inner_text()
            expect(answer.locator(".jp-OutputArea")).to_contain_text("main: idle", timeout=20_000)
            shot(page, "ux-markdown-answer", answer)

            # "copy" puts the exact code on the clipboard.
            block.locator("[data-ipyagent-action='copy']").click()
            expect(block.locator("[data-ipyagent-action='copy']")).to_have_text("copied ✓")
            assert page.evaluate("navigator.clipboard.readText()") == CODE

            # 2. %timeline opened after the work draws it from the start: main was generating.
            run_cell(page, timeline)
            lane = timeline.locator(".ipa-timeline g[data-kind='state'][data-agent='main']")
            expect(lane.locator("rect[data-value='generating']")).to_have_count(1, timeout=20_000)
            expect(lane.locator("[data-mark='user']")).to_have_count(1)
            keys = timeline.locator(".ipa-legend .ipa-key").evaluate_all(
                "ks => ks.map(k => [k.dataset.key,"
                " (k.querySelector('i') || k.querySelector('.ipa-glyph')).style.cssText])"
            )
            labels = [k for k, _ in keys]
            for name in (
                "idle",
                "listening",
                "generating",
                "emitting",
                "running",
                "done",
                "user",
                "interruption",
            ):
                assert name in labels, labels
            colours = [style for _, style in keys]
            assert len(set(colours)) == len(colours), keys  # every colour and mark is its own
            shot(page, "ux-timeline-after-the-work", timeline)

            # 4. %agents: one state per agent; its button says what it stops and asks first.
            run_cell(page, tree)
            node = tree.locator(".ipa-node[data-path='main']")
            expect(node.locator(".ipa-state")).to_have_count(1, timeout=20_000)
            button = node.locator(".ipa-cancel")
            expect(button).to_have_text("stop main")
            button.click()
            expect(node.locator(".ipa-confirm")).to_contain_text("cancel main's whole tree?")
            shot(page, "ux-agents-confirm", tree)
            node.get_by_role("button", name="keep running").click()
            expect(button).to_be_visible()

            # 3. A request to run code has its own buttons; Run runs it once.
            run_cell(page, count)
            request = count.locator(".ipyagent-approval[data-status='pending']")
            expect(request.locator("pre")).to_have_text(COUNT, timeout=20_000)
            shot(page, "ux-approval-buttons", count)
            request.get_by_role("button", name="Run", exact=True).click()
            expect(count.locator(".jp-OutputArea")).to_contain_text("Counted.", timeout=20_000)
            expect(count.locator(".ipyagent-approval")).to_contain_text("you approved it")

            # ... and a click on a request that was cancelled runs nothing and says why.
            run_cell(page, again)
            expect(again.locator(".ipyagent-approval[data-status='pending']")).to_have_count(
                1, timeout=20_000
            )
            run_cell(page, cancel)
            expect(cancel.locator(".jp-OutputArea")).to_contain_text("cancelled main", timeout=20_000)
            stale = again.locator(".ipyagent-approval[data-status='cancelled']")
            expect(stale).to_have_count(1, timeout=20_000)
            stale.get_by_role("button", name="Run", exact=True).click()
            expect(again.locator(".jp-OutputArea")).to_contain_text("nothing ran", timeout=20_000)
            expect(again.locator(".jp-OutputArea")).to_contain_text("after request r2 was cancelled")
            shot(page, "ux-approval-cancelled-click", again)
            run_cell(page, clicks)
            expect(clicks.locator(".jp-OutputArea-output")).to_have_text("1", timeout=20_000)

            # 5. %ledger is as tall as its rows, up to a limit.
            run_cell(page, ledger)
            viewport = ledger.locator(".ipa-viewport")
            expect(ledger.locator(".ipa-row").first).to_be_visible(timeout=20_000)
            rows = ledger.locator(".ipa-row").count()
            height = viewport.evaluate("v => v.clientHeight")
            assert height <= rows * 24 + 4 and height < 360, (rows, height)
            shot(page, "ux-ledger-sized", ledger)

            # The chat box shows the same answer as Markdown, with the same code block.
            run_cell(page, chat)
            answer_in_chat = chat.locator(".ipa-chat .ipa-msg[data-role='assistant'] .ipa-md").first
            expect(answer_in_chat.locator("li")).to_have_count(2, timeout=20_000)
            expect(answer_in_chat.locator(".ipyagent-code pre")).to_have_text(CODE)
            shot(page, "ux-chat-markdown", chat)

            # 6. Insert as a new cell below: the new cell holds the code, ready to run.
            answer.locator(".ipyagent-code [data-ipyagent-action='insert-cell']").click()
            expect(page.locator(".jp-Notebook .jp-CodeCell")).to_have_count(10)
            new = page.locator(".jp-Notebook .jp-CodeCell").nth(1)
            expect(new.locator(".cm-content")).to_have_text(CODE.replace("\n", ""))
            lines = new.locator(".cm-line").all_inner_texts()
            assert "\n".join(lines) == CODE
            run_cell(page, new)
            expect(new.locator(".jp-OutputArea-output")).to_have_text("total: 45", timeout=20_000)
            shot(page, "ux-inserted-cell")
        except Exception:
            ARTIFACTS.mkdir(exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "ux-first-session-failure.png"), full_page=True)
            raise
        finally:
            browser.close()


def test_voice_without_a_microphone_says_so_where_the_eye_is(lab: JupyterLab) -> None:
    from playwright.sync_api import expect, sync_playwright

    if shutil.which("espeak-ng") is None:
        pytest.skip("the voice widget's TTS fallback needs espeak-ng")
    url = notebook(lab, "voice.ipynb", ["%voice --tts espeak"])
    with sync_playwright() as p:
        # The permission prompt is accepted, but this machine has no microphone at all.
        browser = launch_chromium(p, ["--use-fake-ui-for-media-stream"])
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        try:
            cells = open_notebook(page, url, 1)
            run_cell(page, cells.nth(0))
            widget = page.locator(".ipyagent-voice")
            widget.wait_for(timeout=60_000)
            widget.locator("button.mic").click()
            headline = widget.locator(".transcript")
            expect(headline).to_have_text(
                "no microphone found — plug one in or allow access, then click the mic again", timeout=10_000
            )
            assert headline.evaluate("e => getComputedStyle(e).color") == "rgb(198, 40, 40)"
            shot(page, "ux-voice-no-microphone", widget)
        finally:
            browser.close()
