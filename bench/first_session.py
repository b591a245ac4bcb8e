"""Screenshots of what a new user meets in JupyterLab, cell by cell, for before/after pictures:
an answer with Markdown and code, a request to run code, %agents, %timeline opened after the work,
%ledger, %ledger --system, %tools, %interrupt and %voice without a microphone.

It uses the checkout it is imported from (``PYTHONPATH``), so the same script pictures two
versions side by side:

    PYTHONPATH=/path/to/old/src python bench/first_session.py /tmp/before
    PYTHONPATH=src python bench/first_session.py /tmp/after
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_notebook

from ipyagent.kernel.kernelspec import install
from ipyagent.testing.lab import jupyter_lab, launch_chromium

CODE = "total = sum(range(10))\nprint(f'total: {total}')"
ANSWER = (
    "Here is **how** it works:\n\n- add the numbers\n- print `total`\n\n"
    "| n | square |\n|---|---|\n| 2 | 4 |\n| 3 | 9 |\n\n"
    f"```python\n{CODE}\n```\n"
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
    {"delay": 0.2, "text": "", "tool_calls": [{"name": "sleep", "arguments": {"seconds": 30}}]},
    {"delay": 5, "text": "A long answer that is still being written when the user interrupts it."},
]
CELLS = [
    ("answer", "%agent Show me how to add numbers"),
    ("approval", "%agent Count the clicks"),
    ("sleep", "%agent Wait half a minute"),
    ("agents", "%agents"),
    ("timeline", "%timeline"),
    ("ledger", "%ledger"),
    ("ledger-system", "%ledger --system"),
    ("tools", "%tools"),
    ("interrupt", "%agent Talk for a while\n"),
    ("interrupt-magic", "%interrupt"),
    ("voice", "%voice --tts espeak"),
]


def main(out: Path) -> None:
    from playwright.sync_api import sync_playwright

    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        for name in ("prefix", "sessions", "work"):
            (base / name).mkdir()
        install(prefix=str(base / "prefix"))
        (base / "script.json").write_text(json.dumps(SCRIPT))
        env = {
            "JUPYTER_PATH": str(base / "prefix/share/jupyter"),
            "IPYAGENT_SESSION_DIR": str(base / "sessions"),
            "IPYAGENT_MODEL": f"scripted:{base / 'script.json'}",
        }
        nb = new_notebook(
            cells=[new_code_cell(src) for _, src in CELLS],
            metadata={"kernelspec": {"name": "ipyagent", "display_name": "ipyagent", "language": "python"}},
        )
        nbformat.write(nb, base / "work" / "first.ipynb")
        with jupyter_lab(base / "work", base / "lab", env) as lab, sync_playwright() as p:
            browser = launch_chromium(p, ["--use-fake-ui-for-media-stream"])
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.set_default_timeout(60_000)
            page.goto(lab.notebook_url("first.ipynb"))
            page.get_by_text("Python 3 (ipyagent) | Idle").wait_for()
            cells = page.locator(".jp-Notebook .jp-CodeCell")
            for k, (name, _) in enumerate(CELLS):
                cell = cells.nth(k)
                cell.locator(".jp-InputArea-editor").click()
                page.keyboard.press("Control+Enter")
                page.wait_for_timeout(2500 if name != "interrupt" else 1500)
                if name == "voice":
                    cell.locator("button.mic").click()
                    page.wait_for_timeout(1500)
                cell.scroll_into_view_if_needed()
                cell.screenshot(path=str(out / f"{name}.png"))
                if name == "interrupt-magic":
                    cells.nth(k - 1).screenshot(path=str(out / "interrupted.png"))
            page.goto(f"{lab.url}/lab/tree/first.ipynb?token={lab.token}")
            page.keyboard.press("Control+Shift+L")  # the launcher, with the kernel's logo
            page.wait_for_timeout(2000)
            page.screenshot(
                path=str(out / "launcher.png"), clip={"x": 0, "y": 0, "width": 1000, "height": 500}
            )
            browser.close()
    print(f"screenshots in {out}")


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "first-session"))
