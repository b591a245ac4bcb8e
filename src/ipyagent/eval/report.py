"""Presenting results: a text table, a self-contained HTML report, and JSONL for fine-tuning."""

from __future__ import annotations

import html
import json
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ..ledger.render import render_anthropic, render_chatml, render_openai
from ..ledger.render.common import status_text
from ..ledger.render.context import Context
from ..ledger.text import format_entries
from .metrics import ScenarioResult, Totals
from .scenario import BEHAVIOURS

EXPORT_FORMATS = ("openai", "anthropic", "chatml")


def _pct(pair: tuple[int, int]) -> str:
    passed, total = pair
    return "—" if total == 0 else f"{100 * passed / total:.0f}%"


def _secs(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f}"


def summary_rows(results: Sequence[ScenarioResult]) -> list[list[str]]:
    """One row per behaviour, then the overall row."""
    groups: list[tuple[str, list[ScenarioResult]]] = [
        (b, [r for r in results if r.scenario.behaviour == b]) for b in BEHAVIOURS
    ]
    groups = [(b, rs) for b, rs in groups if rs] + [("overall", list(results))]
    rows = []
    for name, rs in groups:
        t = Totals.of(rs)
        rows.append(
            [
                name,
                str(t.scenarios),
                _pct((t.successes, t.scenarios)),
                _pct((t.valid_generations, t.generations)),
                _pct(t.tools),
                _pct(t.notifications),
                _pct((t.no_duplicates, t.scenarios)),
                _secs(t.first_answer),
                f"{t.input_tokens}/{t.output_tokens}",
            ]
        )
    return rows


SUMMARY_HEADER = [
    "behaviour",
    "scenarios",
    "success",
    "valid msgs",
    "tool+args",
    "notifications",
    "no dup",
    "1st answer s",
    "tokens in/out",
]


def text_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows, strict=True)]
    line = "  ".join("-" * w for w in widths)

    def fmt(row: Sequence[str]) -> str:
        return "  ".join(
            str(x).ljust(w) if i == 0 else str(x).rjust(w)
            for i, (x, w) in enumerate(zip(row, widths, strict=True))
        )

    return "\n".join([fmt(header), line, *(fmt(r) for r in rows)])


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(out)


def scenario_rows(results: Sequence[ScenarioResult]) -> list[list[str]]:
    rows = []
    for r in results:
        rows.append(
            [
                r.scenario.key,
                "ok" if r.success else "FAIL",
                f"{r.valid_generations}/{r.generations}",
                "{}/{}".format(*r.metric("tools")),
                "{}/{}".format(*r.metric("notifications")),
                str(len(r.duplicates)),
                _secs(r.first_answer),
                f"{r.record.real_seconds:.1f}",
            ]
        )
    return rows


SCENARIO_HEADER = ["scenario", "result", "valid", "tools", "notif", "dups", "1st answer s", "real s"]


def console_report(results: Sequence[ScenarioResult], model: str, *, verbose: bool = False) -> str:
    parts = []
    if verbose:
        parts.append(text_table(SCENARIO_HEADER, scenario_rows(results)))
        failing = [r for r in results if not r.success]
        for r in failing:
            parts.append(f"{r.scenario.key}:\n  " + "\n  ".join(r.failures()))
    t = Totals.of(results)
    parts.append(
        f"model {model}: {t.successes}/{t.scenarios} scenarios succeeded ({100 * t.success_rate:.0f}%)"
    )
    parts.append(text_table(SUMMARY_HEADER, summary_rows(results)))
    return "\n\n".join(parts)


# --- HTML -------------------------------------------------------------------------------------

_CSS = """
body{font:14px/1.45 system-ui,sans-serif;margin:2em;color:#222;max-width:1200px}
table{border-collapse:collapse;margin:1em 0}th,td{border:1px solid #ccc;padding:4px 8px;text-align:right}
th{background:#f3f3f3}td:first-child,th:first-child{text-align:left}
.ok{color:#17692a;font-weight:600}.fail{color:#b00020;font-weight:600}
details{margin:.4em 0;border:1px solid #ddd;border-radius:4px;padding:.3em .6em}
summary{cursor:pointer}pre{background:#f8f8f8;padding:.6em;overflow-x:auto;font-size:12px}
li.pass::marker{content:"✓ ";color:#17692a}li.miss::marker{content:"✗ ";color:#b00020}
.muted{color:#666}
"""


def _table_html(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = ""
    for row in rows:
        cells = ""
        for cell in row:
            cls = ' class="ok"' if cell == "ok" else ' class="fail"' if cell == "FAIL" else ""
            cells += f"<td{cls}>{html.escape(cell)}</td>"
        body += f"<tr>{cells}</tr>"
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _scenario_html(r: ScenarioResult) -> str:
    s = r.scenario
    status = '<span class="ok">ok</span>' if r.success else '<span class="fail">FAIL</span>'
    items = "".join(
        f'<li class="{"pass" if c.passed else "miss"}">{html.escape(c.description)} '
        f'<span class="muted">— {html.escape(c.detail)}</span></li>'
        for c in r.checks
    )
    items += "".join(f'<li class="miss">duplicate call: {html.escape(d)}</li>' for d in r.duplicates)
    items += "".join(f'<li class="miss">never happened: {html.escape(m)}</li>' for m in r.missed_steps)
    items += "".join(f'<li class="miss">invalid message: {html.escape(m)}</li>' for m in r.invalid)
    steps = "".join(f"<li>{html.escape(st.step.describe())}</li>" for st in r.record.steps)
    ledger = html.escape(format_entries(r.record.entries, start=r.record.epoch))
    subs = "".join(
        f"<p>sub-agent <code>{html.escape(path)}</code></p>"
        f"<pre>{html.escape(format_entries(entries, start=r.record.epoch))}</pre>"
        for path, entries in r.record.sub_ledgers.items()
    )
    figures = (
        f"{r.valid_generations}/{r.generations} valid messages · first answer {_secs(r.first_answer)} s · "
        f"tokens {r.input_tokens}/{r.output_tokens} · ended: {r.record.end} after "
        f"{r.record.virtual_seconds:.1f} virtual s, {r.record.real_seconds:.1f} real s"
    )
    return (
        f"<details><summary>{status} <b>{html.escape(s.key)}</b> "
        f'<span class="muted">({html.escape(s.behaviour)}) {html.escape(s.description)}</span></summary>'
        f"<p>{html.escape(figures)}</p><p>Steps:</p><ol>{steps}</ol><p>Checks:</p><ul>{items}</ul>"
        f"<p>Ledger (seconds of virtual time):</p><pre>{ledger}</pre>{subs}</details>"
    )


def html_report(results: Sequence[ScenarioResult], model: str) -> str:
    """A self-contained HTML page: summary, per-scenario table, and each run's checks and ledger."""
    t = Totals.of(results)
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    return (
        "<!DOCTYPE html><html lang=en><head><meta charset=utf-8>"
        f"<title>ipyagent eval: {html.escape(model)}</title><style>{_CSS}</style></head><body>"
        f"<h1>ipyagent evaluation: {html.escape(model)}</h1>"
        f'<p class="muted">{when} · {t.scenarios} scenarios · {t.real_seconds:.0f} s real time</p>'
        f"<p><b>{t.successes}/{t.scenarios}</b> scenarios succeeded ({100 * t.success_rate:.0f}%).</p>"
        f"<h2>By behaviour</h2>{_table_html(SUMMARY_HEADER, summary_rows(results))}"
        f"<h2>Scenarios</h2>{_table_html(SCENARIO_HEADER, scenario_rows(results))}"
        f"<h2>Runs</h2>{''.join(_scenario_html(r) for r in results)}"
        "</body></html>"
    )


# --- JSONL for fine-tuning --------------------------------------------------------------------


def _context(r: ScenarioResult) -> Context:
    entries = r.record.entries
    return Context(entries=entries, tools=r.record.tool_specs, now=entries[-1].time if entries else 0.0)


def training_example(r: ScenarioResult, fmt: str) -> dict[str, Any]:
    """One successful run as one chat fine-tuning example.

    ``openai``: ``{"messages", "tools"}``; notifications are user messages tagged
    ``<notification kind=... task=... name=...>``. ``anthropic``: ``{"system", "messages",
    "tools"}`` with the same tags. ``chatml``: ``{"text"}`` in the extended ChatML with its own
    ``notification`` role and ``<|interrupt|>`` token. The status line about the present moment
    that a live prompt ends with is left out: an example ends with the agent's last message.
    """
    context = _context(r)
    if fmt == "openai":
        messages, tools = render_openai(context)
        return {"messages": messages[:-1], "tools": tools}
    if fmt == "anthropic":
        system, amessages, atools = render_anthropic(context)
        last = amessages[-1]["content"] if amessages else []
        if last and last[-1] == {"type": "text", "text": status_text(context)}:
            last.pop()
            if not last:
                amessages.pop()
        return {"system": system, "messages": amessages, "tools": atools}
    if fmt == "chatml":
        text = render_chatml(context)
        tail = f"<|im_start|>notification\n{status_text(context)}<|im_end|>\n<|im_start|>assistant\n"
        if text.endswith(tail):
            text = text[: -len(tail)]
        return {"text": text}
    raise ValueError(f"unknown export format {fmt!r}; use one of {EXPORT_FORMATS}")


def export_jsonl(results: Sequence[ScenarioResult], path: str | Path, fmt: str = "openai") -> int:
    """Write one example per successful run; returns how many were written."""
    if fmt not in EXPORT_FORMATS:
        raise ValueError(f"unknown export format {fmt!r}; use one of {', '.join(EXPORT_FORMATS)}")
    chosen = [r for r in results if r.success]
    with Path(path).open("w", encoding="utf-8") as out:
        for r in chosen:
            out.write(json.dumps(training_example(r, fmt), ensure_ascii=False) + "\n")
    return len(chosen)


Progress = Callable[[int, int, str, ScenarioResult | None], None]
