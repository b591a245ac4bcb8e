"""``python -m ipyagent eval``: run scenario suites against a model and report the scores."""

from __future__ import annotations

import argparse
import fnmatch
import json
import sys
from collections.abc import Sequence
from typing import TextIO

import anyio

from ..errors import IpyagentError
from .loader import builtin_suites, find_suites
from .metrics import ScenarioResult, Totals, score
from .report import EXPORT_FORMATS, console_report, export_jsonl, html_report
from .runner import MAX_GENERATIONS, REAL_LIMIT, WORDS_PER_SECOND, BackendFactory, model_factory, run_scenario
from .scenario import BEHAVIOURS, Scenario


class ProgressBar:
    """One line on stderr, redrawn in place on a terminal; one line per scenario otherwise."""

    def __init__(self, total: int, stream: TextIO | None = None, width: int = 24) -> None:
        self.total = total
        self.stream = stream or sys.stderr
        self.width = width
        self.done = 0
        self.passed = 0
        self.tty = self.stream.isatty()

    def _bar(self) -> str:
        filled = round(self.width * self.done / self.total) if self.total else self.width
        return "[" + "#" * filled + "." * (self.width - filled) + f"] {self.done}/{self.total}"

    def start(self, scenario: Scenario) -> None:
        if self.tty:
            self.stream.write(f"\r\033[K{self._bar()} ok {self.passed} · running {scenario.key}")
            self.stream.flush()

    def finish(self, result: ScenarioResult) -> None:
        self.done += 1
        self.passed += result.success
        verdict = "ok" if result.success else "FAIL"
        line = f"{self._bar()} {verdict:<4} {result.scenario.key} ({result.record.real_seconds:.1f} s)"
        if self.tty:
            self.stream.write(f"\r\033[K{line}")
            if self.done == self.total:
                self.stream.write("\n")
        else:
            self.stream.write(line + "\n")
        self.stream.flush()


async def run_scenarios(
    scenarios: Sequence[Scenario],
    factory: BackendFactory,
    *,
    model: str = "",
    progress: ProgressBar | None = None,
    words_per_second: float = WORDS_PER_SECOND,
    max_generations: int = MAX_GENERATIONS,
    real_limit: float = REAL_LIMIT,
) -> list[ScenarioResult]:
    """Run and score scenarios one after another (a model runs one generation at a time anyway)."""
    results = []
    for scenario in scenarios:
        if progress is not None:
            progress.start(scenario)
        record = await run_scenario(
            scenario,
            factory,
            model=model,
            words_per_second=words_per_second,
            max_generations=max_generations,
            real_limit=real_limit,
        )
        result = score(record)
        results.append(result)
        if progress is not None:
            progress.finish(result)
    return results


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m ipyagent eval",
        description="Score how well a model drives an asynchronous agent, on scripted scenarios.",
    )
    p.add_argument(
        "--model",
        default="local",
        help="'local' (default), 'openai:MODEL[@BASE_URL]', 'anthropic:MODEL', "
        "or 'reference' (each scenario's own perfect script, to check a suite)",
    )
    p.add_argument(
        "--suite",
        action="append",
        default=[],
        metavar="NAME",
        help="a shipped suite or a .toml file (repeatable; default: all shipped suites)",
    )
    p.add_argument(
        "--scenario", action="append", default=[], metavar="GLOB", help="only scenarios whose id matches"
    )
    p.add_argument(
        "--behaviour", action="append", default=[], choices=BEHAVIOURS, help="only these behaviours"
    )
    p.add_argument(
        "--held-out",
        action="store_true",
        help="only the scenarios kept out of the fine-tuning data (ipyagent.eval.dialogues.HELD_OUT)",
    )
    p.add_argument("--report", metavar="OUT.html", help="write a self-contained HTML report")
    p.add_argument("--json", metavar="OUT.json", help="write the scores as JSON")
    p.add_argument(
        "--export-jsonl", metavar="OUT.jsonl", help="write successful runs as fine-tuning examples"
    )
    p.add_argument(
        "--export-format", choices=EXPORT_FORMATS, default="openai", help="format of --export-jsonl"
    )
    p.add_argument("--words-per-second", type=float, default=WORDS_PER_SECOND, help="speaking pace (virtual)")
    p.add_argument("--real-limit", type=float, default=REAL_LIMIT, help="real seconds allowed per scenario")
    p.add_argument("--list", action="store_true", help="list the scenarios and exit")
    p.add_argument("-v", "--verbose", action="store_true", help="a row per scenario and why each failed")
    return p


def _select(args: argparse.Namespace) -> list[Scenario]:
    scenarios = [s for suite in find_suites(args.suite) for s in suite.scenarios]
    if args.scenario:
        scenarios = [
            s
            for s in scenarios
            if any(fnmatch.fnmatch(s.id, g) or fnmatch.fnmatch(s.key, g) for g in args.scenario)
        ]
    if args.behaviour:
        scenarios = [s for s in scenarios if s.behaviour in args.behaviour]
    if args.held_out:
        from .dialogues import HELD_OUT

        scenarios = [s for s in scenarios if s.key in HELD_OUT]
    return scenarios


def _scores_json(results: Sequence[ScenarioResult], model: str) -> dict[str, object]:
    t = Totals.of(results)
    return {
        "model": model,
        "scenarios": t.scenarios,
        "successes": t.successes,
        "valid_messages": [t.valid_generations, t.generations],
        "tools": list(t.tools),
        "notifications": list(t.notifications),
        "answers": list(t.answers),
        "no_duplicates": t.no_duplicates,
        "first_answer_median_s": t.first_answer,
        "tokens": [t.input_tokens, t.output_tokens],
        "results": [
            {
                "scenario": r.scenario.key,
                "behaviour": r.scenario.behaviour,
                "success": r.success,
                "valid_messages": [r.valid_generations, r.generations],
                "checks": [
                    {"check": c.description, "passed": c.passed, "detail": c.detail} for c in r.checks
                ],
                "failures": r.failures(),
                "first_answer_s": r.first_answer,
                "tokens": [r.input_tokens, r.output_tokens],
                "real_seconds": r.record.real_seconds,
            }
            for r in results
        ],
    }


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        scenarios = _select(args)
        if args.list:
            for s in scenarios:
                print(f"{s.key:<48} {s.behaviour:<15} {s.description}")
            print(f"{len(scenarios)} scenarios; shipped suites: {', '.join(builtin_suites())}")
            return 0
        if not scenarios:
            print("eval: no scenario matches; see --list", file=sys.stderr)
            return 2
        if args.words_per_second <= 0:
            print("eval: --words-per-second must be positive", file=sys.stderr)
            return 2
        factory = model_factory(args.model)
        bar = ProgressBar(len(scenarios))
        results = anyio.run(
            lambda: run_scenarios(
                scenarios,
                factory,
                model=args.model,
                progress=bar,
                words_per_second=args.words_per_second,
                real_limit=args.real_limit,
            )
        )
    except IpyagentError as exc:
        print(f"eval: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("\neval: stopped", file=sys.stderr)
        return 130
    print(console_report(results, args.model, verbose=args.verbose))
    try:
        if args.report:
            with open(args.report, "w", encoding="utf-8") as out:
                out.write(html_report(results, args.model))
            print(f"report written to {args.report}")
        if args.json:
            with open(args.json, "w", encoding="utf-8") as out:
                json.dump(_scores_json(results, args.model), out, indent=1)
            print(f"scores written to {args.json}")
        if args.export_jsonl:
            n = export_jsonl(results, args.export_jsonl, args.export_format)
            print(f"{n} successful run(s) written to {args.export_jsonl} ({args.export_format} format)")
    except OSError as exc:
        print(f"eval: cannot write output: {exc}", file=sys.stderr)
        return 2
    return 0
