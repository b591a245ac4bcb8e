"""Mutation testing of the modules that carry the README's promises, one module at a time.

    python bench/mutation.py                 # every module not yet done (resumes after a stop)
    python bench/mutation.py redaction fsm   # just these (run again even if done)
    python bench/mutation.py --report        # rewrite the report from what is done

mutmut (configured in pyproject.toml, ``[tool.mutmut]``) makes small changes to the code (a ``<``
for a ``<=``, a dropped line, another constant) and runs the tests that reach the changed
function; a change no test notices "survives". After each module this writes its checkpoint
(``bench/results/mutation/MODULE.json``) and rewrites ``bench/results/mutation.md``: the score
per module and every surviving mutant as a diff. Mutants that no behaviour can tell apart from
the original are listed, each with its reason, in ``bench/mutation_equivalent.toml`` and are not
counted. Slow (tens of minutes per module on two cores): run it in the background, e.g.
``nohup nice -n 19 make mutation &``. Not part of ``make test``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
import tomllib
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "results" / "mutation"
REPORT = ROOT / "bench" / "results" / "mutation.md"
EQUIVALENT = ROOT / "bench" / "mutation_equivalent.toml"
MUTMUT = [sys.executable, "-m", "mutmut"]

# Module -> (mutant name pattern, goal for the share of non-equivalent mutants killed).
MODULES: dict[str, tuple[str, float]] = {
    "fsm": ("ipyagent.fsm.*", 0.90),
    "ledger": ("ipyagent.ledger.*", 0.90),
    "redaction": ("ipyagent.redaction.*", 0.90),
    "dispatch/schema": ("ipyagent.dispatch.schema.*", 0.90),
    "widgets/wire": ("ipyagent.widgets.wire.*", 0.90),
    "dispatch/tasks": ("ipyagent.dispatch.tasks.*", 0.80),
    "dispatch/backends/local": ("ipyagent.dispatch.backends.local.*", 0.80),
    "audio/vad": ("ipyagent.audio.vad.*", 0.80),
    "audio/speech": ("ipyagent.audio.speech.*", 0.80),
    "eval/metrics": ("ipyagent.eval.metrics.*", 0.80),
    "kernel/approval": ("ipyagent.kernel.approval.*", 0.80),
}
KILLED = {"killed", "timeout", "segfault", "caught by type check"}
NOT_NOTICED = {"survived", "no tests", "suspicious"}
COUNTED = KILLED | NOT_NOTICED


def status_of(code: int | None) -> str:
    return {
        None: "not checked",
        0: "survived",
        1: "killed",
        3: "killed",
        5: "no tests",
        33: "no tests",
        34: "skipped",
        36: "timeout",
        37: "caught by type check",
        -24: "timeout",
        24: "timeout",
        152: "timeout",
        255: "timeout",
        -11: "segfault",
        -9: "segfault",
    }.get(code, "suspicious")


def mutant_results() -> dict[str, str]:
    """Every mutant mutmut knows of, with its status (from its files under mutants/)."""
    found: dict[str, str] = {}
    for meta in (ROOT / "mutants").rglob("*.py.meta"):
        data = json.loads(meta.read_text())
        for name, code in data.get("exit_code_by_key", {}).items():
            found[name] = status_of(code)
    return found


def matches(name: str, pattern: str) -> bool:
    from fnmatch import fnmatchcase

    return fnmatchcase(name, pattern)


def equivalents() -> dict[str, str]:
    if not EQUIVALENT.exists():
        return {}
    table = tomllib.loads(EQUIVALENT.read_text())
    return {str(k): str(v) for k, v in table.get("equivalent", {}).items()}


def diff_of(name: str) -> str:
    shown = subprocess.run([*MUTMUT, "show", name], cwd=ROOT, capture_output=True, text=True, check=False)
    return shown.stdout.strip()


def run_module(module: str, max_children: int) -> None:
    pattern, _ = MODULES[module]
    OUT.mkdir(parents=True, exist_ok=True)
    log = OUT / f"{module.replace('/', '.')}.log"
    started = time.monotonic()
    with log.open("w") as out:
        subprocess.run(
            [*MUTMUT, "run", "--max-children", str(max_children), pattern],
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
            check=False,
        )
    seconds = time.monotonic() - started
    statuses = {n: s for n, s in mutant_results().items() if matches(n, pattern)}
    survivors = {n: diff_of(n) for n, s in sorted(statuses.items()) if s in NOT_NOTICED}
    checkpoint = {"module": module, "seconds": round(seconds), "statuses": statuses, "survivors": survivors}
    (OUT / f"{module.replace('/', '.')}.json").write_text(json.dumps(checkpoint, indent=1))
    print(f"{module}: {summary(checkpoint)}", flush=True)


def tally(statuses: dict[str, str]) -> tuple[Counter[str], int, int]:
    """``(count by status, mutants counted, mutants killed)``, equivalent mutants left out."""
    eq = equivalents()
    counted = Counter(s for n, s in statuses.items() if n not in eq and s in COUNTED)
    return counted, sum(counted.values()), sum(counted[s] for s in KILLED)


def summary(checkpoint: dict[str, Any]) -> str:
    counted, total, killed = tally(checkpoint["statuses"])
    score = killed / total if total else 0.0
    return (
        f"{killed}/{total} killed ({score:.0%}), {counted['survived']} survived, "
        f"{counted['no tests']} not reached by any test"
    )


def report() -> None:
    eq = equivalents()
    known = mutant_results()
    lines = [
        "# Mutation testing",
        "",
        "Produced by `make mutation` (bench/mutation.py). Score: the share of non-equivalent mutants",
        "that some test notices (killed, or made to time out).",
        "",
        "| module | mutants | equivalent | killed | survived | not reached | score | goal | run time |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    details: list[str] = []
    for module, (_, goal) in MODULES.items():
        path = OUT / f"{module.replace('/', '.')}.json"
        if not path.exists():
            lines.append(f"| {module} | not run yet | | | | | | {goal:.0%} | |")
            continue
        checkpoint = json.loads(path.read_text())
        statuses: dict[str, str] = checkpoint["statuses"]
        counted, total, killed = tally(statuses)
        n_eq = sum(1 for n in statuses if n in eq)
        score = f"{killed / total:.0%}" if total else "-"
        minutes = checkpoint["seconds"] / 60
        lines.append(
            f"| {module} | {len(statuses)} | {n_eq} | {killed} | {counted['survived']} | "
            f"{counted['no tests']} | {score} | {goal:.0%} | {minutes:.0f} min |"
        )
        left = {n: d for n, d in checkpoint["survivors"].items() if n not in eq}
        if left:
            details += [f"## {module}: {len(left)} not noticed", ""]
            for name, diff in left.items():
                details += [f"### {name} ({statuses[name]})", "", "```diff", diff, "```", ""]
    stale = sorted(n for n in eq if n not in known)
    lines += ["", *details]
    if eq:
        lines += ["## Equivalent mutants (not counted)", ""]
        lines += [f"- `{n}`: {reason}" for n, reason in sorted(eq.items()) if n in known]
    if stale:
        lines += ["", "Listed as equivalent but no longer generated (the code moved): " + ", ".join(stale)]
    REPORT.parent.mkdir(parents=True, exist_ok=True)
    REPORT.write_text("\n".join(lines) + "\n")
    print(f"wrote {REPORT.relative_to(ROOT)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("modules", nargs="*", help=f"some of: {', '.join(MODULES)}")
    parser.add_argument("--max-children", type=int, default=1, help="mutants tested at once (default 1)")
    parser.add_argument("--report", action="store_true", help="only rewrite the report")
    args = parser.parse_args()
    unknown = [m for m in args.modules if m not in MODULES]
    if unknown:
        parser.error(f"unknown module(s) {unknown}; choose from {', '.join(MODULES)}")
    if not args.report:
        todo = args.modules or [m for m in MODULES if not (OUT / f"{m.replace('/', '.')}.json").exists()]
        os.environ.setdefault("PYTHONHASHSEED", "0")
        for module in todo:
            run_module(module, args.max_children)
            report()
    report()


if __name__ == "__main__":
    main()
