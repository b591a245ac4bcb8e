"""Speed figures for the widgets. Run with ``python bench/widgets.py`` (needs Chromium: ``chromium``
on the PATH, or ``$IPYAGENT_CHROMIUM``).

1. Comm messages per second under a token stream (~1,000 tokens a second for 3 s, real clock),
   with coalescing off and on, for the ledger view, the chat box and the state indicator.
2. The ledger view in JupyterLab + headless Chromium: time from the view's creation to its rows
   drawn, for ledgers of 10,000, 100,000 and 1,000,000 entries (goal <= 200 ms), and the cost of
   each appended entry (goal <= 16 ms, one frame). ``--sizes 10000,100000`` picks the sizes. Two
   times are given: from the view's module starting in the page (what the view itself costs), and
   from running the cell that makes the view, once the cell that built the ledger is done (adds
   making the widget in the kernel and JupyterLab showing the output).

Prints a table and writes the figures to bench/results/widgets.json (``--label`` names the run,
so that runs of two versions side by side land in one file: ``PYTHONPATH=old/src python
bench/widgets.py --label before``; ``--screenshots DIR`` saves what a user sees).
"""

from __future__ import annotations

import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import anyio

from ipyagent import Agent, RealClock, State
from ipyagent.dispatch.backends import ScriptedBackend
from ipyagent.testing import wait_for_state
from ipyagent.testing.lab import CHROMIUM, jupyter_lab, launch_chromium
from ipyagent.widgets import AgentWidget, chat_box, ledger_view, state_indicator

RESULTS = Path(__file__).parent / "results"
figures: dict[str, Any] = {}


def title(text: str) -> None:
    print(f"\n{text}\n{'-' * len(text)}")


def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


# --- 1. comm messages under a token stream -------------------------------------------------------


def count_messages(widget: AgentWidget) -> list[float]:
    """Times at which the widget put a message on its comm."""
    times: list[float] = []
    original = widget._send

    def send(msg: Any, buffers: Any = None) -> None:
        times.append(time.monotonic())
        original(msg, buffers=buffers)

    widget._send = send  # type: ignore[method-assign]
    return times


async def stream_rates(interval: float, tokens: int = 3000, seconds: float = 3.0) -> dict[str, float]:
    clock = RealClock()
    text = " ".join(f"t{i}" for i in range(tokens))
    backend = ScriptedBackend.from_list([{"delay": seconds, "text": text}], clock)
    async with Agent(backend, clock=clock) as agent:
        widgets = {
            "ledger": ledger_view(agent, interval=interval),
            "chat": chat_box(agent, interval=interval),
            "state": state_indicator(agent, interval=interval),
        }
        sent = {name: count_messages(w) for name, w in widgets.items()}
        await agent.send("stream")
        await wait_for_state(agent, State.GENERATING)
        started = time.monotonic()
        await wait_for_state(agent, State.IDLE)
        elapsed = time.monotonic() - started
        rates = {name: sum(1 for t in times if t >= started) / elapsed for name, times in sent.items()}
        rates["tokens"] = tokens / elapsed
        for w in widgets.values():
            w.close()
    return rates


async def bench_coalescing() -> None:
    title("1. Comm messages per second under a token stream (real clock)")
    before = await stream_rates(0.0)
    after = await stream_rates(1 / 30)
    print(f"   token stream: {after['tokens']:.0f} tokens/s for 3 s")
    print(f"   {'widget':<10}{'no coalescing':>16}{'coalesced':>12}")
    for name in ("ledger", "chat", "state"):
        print(f"   {name:<10}{before[name]:>12.0f} /s {after[name]:>8.1f} /s")
    worst = max(after[n] for n in ("ledger", "chat"))
    print(f"   goal: at most ~30 updates/s per widget  {verdict(worst <= 31)}")
    figures["messages_per_s"] = {"before": before, "after": after}


# --- 2. the ledger view in Chromium --------------------------------------------------------------

BUILD = """
import asyncio, time
from ipyagent import Agent, RealClock
from ipyagent.dispatch.backends import ScriptedBackend
from ipyagent.widgets import ledger_view

clock = RealClock()
agent = Agent(ScriptedBackend.from_list([{"text": "unused"}], clock), clock=clock)
kinds = ["user", "assistant", "tool_call", "tool_result", "notification"]
for i in range(N - 1):
    kind = kinds[i % 5]
    extra = {"name": "lookup", "arguments": {"query": f"q{i}", "n": i}, "call_id": f"c{i}"} \\
        if kind == "tool_call" else {}
    agent.ledger.append(kind, f"entry {i}: " + "some words of a message " * 3, time=clock.wall(), **extra)
len(agent.ledger)
"""

APPEND = """
async def append_slowly(n, gap):
    for i in range(n):
        agent.ledger.append("assistant", f"appended {i}", time=clock.wall())
        await asyncio.sleep(gap)
appender = asyncio.ensure_future(append_slowly(APPENDS, 0.05))
"""


def bench_browser(n: int = 10_000, appends: int = 200, label: str = "", shots: Path | None = None) -> None:
    title(f"2. Ledger view in JupyterLab + headless Chromium ({n:,} entries){' — ' + label if label else ''}")
    if not CHROMIUM.exists():
        print(f"   skipped: no Chromium at {CHROMIUM}")
        return
    import nbformat
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        (base / "root").mkdir()
        nb = nbformat.v4.new_notebook()
        nb.cells = [
            nbformat.v4.new_code_cell(f"N = {n}\nAPPENDS = {appends}\n" + BUILD),
            nbformat.v4.new_code_cell("view = ledger_view(agent)\nview"),
            nbformat.v4.new_code_cell(APPEND),
        ]
        nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
        nbformat.write(nb, base / "root" / "bench.ipynb")
        with jupyter_lab(base / "root", base) as lab, sync_playwright() as p:
            browser = launch_chromium(p)
            page = browser.new_page(viewport={"width": 1280, "height": 1000})
            page.set_default_timeout(60_000 + n // 2)  # building a big ledger takes a while
            page.goto(lab.notebook_url("bench.ipynb"))
            page.locator(".jp-Notebook-ExecutionIndicator[data-status='idle']").wait_for()
            page.get_by_text("Python 3 (ipykernel) | Idle").wait_for()
            page.locator(".jp-CodeCell .jp-InputArea-prompt").first.click()
            page.keyboard.press("Shift+Enter")
            # The ledger is built (its length is the cell's output) before the view is made.
            page.wait_for_function(
                "() => [...document.querySelectorAll('.jp-OutputArea-output')]"
                ".some((o) => /^[0-9]+$/.test(o.textContent.trim()))"
            )
            page.evaluate("() => { window.ipaCellRun = performance.now(); }")
            page.keyboard.press("Shift+Enter")
            page.wait_for_function(
                "() => { const r = document.querySelector('.ipa-ledger');"
                " return r && r.ipaStats && r.ipaStats.loaded !== null; }"
            )
            load = page.evaluate("() => document.querySelector('.ipa-ledger').ipaStats")
            from_cell = page.evaluate(
                "() => { const s = document.querySelector('.ipa-ledger').ipaStats;"
                " return s.start + s.loaded - window.ipaCellRun; }"
            )
            rows_in_dom = page.locator(".ipa-ledger .ipa-row").count()
            if shots is not None:
                shots.mkdir(parents=True, exist_ok=True)
                page.wait_for_timeout(300)  # let the cell's prompt and the view settle
                name = f"ledger-{n}{'-' + label if label else ''}.png"
                page.screenshot(path=str(shots / name))
                print(f"   screenshot: {shots / name}")
            page.keyboard.press("Shift+Enter")
            done = f"of {n + appends} entries"
            page.wait_for_function(
                f"() => document.querySelector('.ipa-ledger .ipa-count').textContent.includes('{done}')"
            )
            after = page.evaluate("() => document.querySelector('.ipa-ledger').ipaStats")
            browser.close()

    js_work = sum(load["work"])
    per_append = after["work"][len(load["work"]) :]
    to_screen = after["times"][len(load["times"]) :]
    p50, p95 = statistics.median(per_append), sorted(per_append)[int(len(per_append) * 0.95) - 1]
    shown = load["loaded"]
    print(f"   show {n:,} entries: view created -> rows drawn      {shown:7.1f} ms   goal <= 200 ms  "
          f"{verdict(shown <= 200)}")  # fmt: skip
    print(f"     of which browser work (handling + drawing)          {js_work:7.1f} ms")
    if load.get("snapshot") is not None:
        print(f"     the rows shown with the output were applied after   {load['snapshot']:7.1f} ms")
    if load.get("reset") is not None:
        print(f"     the kernel's first rows arrived after               {load['reset']:7.1f} ms")
    print(f"   cell that makes the view run -> rows drawn            {from_cell:7.1f} ms")
    print(f"     rows in the DOM (virtualised)                       {rows_in_dom:7d}")
    print(f"   each appended entry ({len(per_append)} batches, one entry each, 20/s):")
    print(f"     browser work  p50 {p50:5.2f} ms  p95 {p95:5.2f} ms  max {max(per_append):5.2f} ms   "
          f"goal <= 16 ms  {verdict(p95 <= 16)}")  # fmt: skip
    wait = statistics.median(to_screen)
    print(f"     arrival -> drawn (includes waiting for the next frame)  p50 {wait:5.2f} ms")
    figures.setdefault("ledger_browser" + (f"_{label}" if label else ""), {})[str(n)] = {
        "entries": n,
        "load_end_to_end_ms": load["loaded"],
        "cell_run_to_drawn_ms": from_cell,
        "load_browser_work_ms": js_work,
        "rows_in_dom": rows_in_dom,
        "append_work_ms": {"p50": p50, "p95": p95, "max": max(per_append), "n": len(per_append)},
        "append_to_screen_ms_p50": statistics.median(to_screen),
    }


def main() -> None:
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000,1000000", help="ledger sizes for part 2")
    parser.add_argument("--skip-stream", action="store_true", help="only part 2")
    parser.add_argument("--label", default="", help="names this run's figures (e.g. before, after)")
    parser.add_argument("--screenshots", type=Path, help="save a screenshot of each ledger view here")
    args = parser.parse_args()
    print("ipyagent widget benchmarks")
    if not args.skip_stream:
        anyio.run(bench_coalescing)
    for n in (int(x) for x in args.sizes.split(",")):
        bench_browser(n, label=args.label, shots=args.screenshots)  # Playwright runs its own loop
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / "widgets.json"
    if args.label and path.exists():  # runs with labels add to one file
        for key, value in json.loads(path.read_text()).items():
            if isinstance(value, dict) and isinstance(figures.get(key), dict):
                figures[key] = {**value, **figures[key]}
            else:
                figures.setdefault(key, value)
    path.write_text(json.dumps(figures, indent=2))
    print(f"\nfigures written to {RESULTS / 'widgets.json'}")


if __name__ == "__main__":
    main()
