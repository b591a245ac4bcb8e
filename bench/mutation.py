"""Mutation testing of the modules that carry the README's promises, one module at a time.

    python bench/mutation.py                 # every module not yet done (resumes after a stop)
    python bench/mutation.py redaction fsm   # just these (run again even if done)
    python bench/mutation.py --report        # rewrite the report from what is done
    python bench/mutation.py --survivors ledger   # recheck only the last run's survivors

mutmut (common settings under ``[tool.mutmut]`` in pyproject.toml) makes small changes to the code
(a ``<`` for a ``<=``, a dropped line, another constant) and runs the tests that reach the changed
function; a change no test notices "survives". Each module runs in its own copy of the tree
(``.mutation/MODULE.PID/``, made afresh: edits made while it runs do not leak into it) with only its
own files mutated and only its own fast unit tests selected (``MODULES`` below), so a module
takes minutes, not the hours the whole suite would. After each module this writes its checkpoint
(``bench/results/mutation/MODULE.json``) and rewrites ``bench/results/mutation.md``: the score
per module (the first run's and the latest) and every surviving mutant as a diff. Mutants that
no behaviour can tell apart from the original are listed, each with its reason, in
``bench/mutation_equivalent.toml`` and are not counted. Run it in the background, e.g.
``nohup nice -n 10 make mutation &``. Not part of ``make test``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import tomllib
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "results" / "mutation"
REPORT = ROOT / "bench" / "results" / "mutation.md"
EQUIVALENT = ROOT / "bench" / "mutation_equivalent.toml"
WORK = ROOT / ".mutation"
MUTMUT = [sys.executable, "-m", "mutmut"]


@dataclass(frozen=True)
class Module:
    """What to mutate (paths under src/, mutmut's glob patterns), which tests guard it, the goal,
    and tests left out of the run (pytest node ids): ones that take many seconds per mutant where
    faster tests of the same promise are selected."""

    files: tuple[str, ...]
    tests: tuple[str, ...]
    goal: float
    left_out: tuple[str, ...] = ()


MODULES: dict[str, Module] = {
    "fsm": Module(("src/ipyagent/fsm/*",), ("tests/fsm",), 0.90),
    "ledger": Module(
        ("src/ipyagent/ledger/*",),
        (
            "tests/ledger",
            # the text views of a ledger (ledger/text.py) and the small model's prompt (render)
            "tests/magics/test_text_views.py",
            "tests/dispatch/test_local_choice.py",
            "tests/dispatch/test_decoded_calls.py",
        ),
        0.90,
    ),
    "redaction": Module(
        ("src/ipyagent/redaction.py",),
        ("tests/security/test_redaction.py", "tests/security/test_redaction_shapes.py"),
        0.90,
    ),
    "dispatch/schema": Module(
        ("src/ipyagent/dispatch/schema.py",),
        (
            "tests/dispatch/test_schema_cases.py",
            "tests/dispatch/test_schema.py",
            "tests/dispatch/test_tool_definitions.py",
        ),
        0.90,
        # 400 generated cases against jsonschema: 20 s for every mutant that survives the table
        # of cases in test_schema_cases.py, which compares the same things.
        ("tests/dispatch/test_schema.py::test_the_same_verdict_and_message_as_jsonschema",),
    ),
    "widgets/wire": Module(
        ("src/ipyagent/widgets/wire.py",),
        (
            "tests/widgets/test_wire_contract.py",
            "tests/widgets/test_wire_limits.py",
            "tests/widgets/test_wire_refusals.py",
        ),
        0.90,
    ),
    "dispatch/tasks": Module(
        ("src/ipyagent/dispatch/tasks.py",),
        (
            "tests/dispatch/test_result_limit.py",
            "tests/dispatch/test_task_runner.py",
            "tests/dispatch/test_tools.py",
            "tests/dispatch/test_fair_sharing.py",
            "tests/agents/test_tool_timing.py",
            "tests/agents/test_tool_faults.py",
        ),
        0.80,
    ),
    "dispatch/backends/local": Module(
        ("src/ipyagent/dispatch/backends/local/grammar.py", "src/ipyagent/dispatch/backends/local/choice.py"),
        (
            "tests/dispatch/test_local_choice.py",
            "tests/dispatch/test_local_choice_words.py",
            "tests/dispatch/test_local_grammar_rules.py",
            "tests/dispatch/test_local_grammar_accepts.py",
            "tests/dispatch/test_local_guard.py",
            "tests/dispatch/test_decoded_calls.py",
        ),
        0.80,
    ),
    "audio/vad": Module(
        ("src/ipyagent/audio/vad.py",),
        ("tests/audio/test_vad.py", "tests/audio/test_vad_edges.py", "tests/audio/test_vad_gate.py"),
        0.80,
    ),
    "audio/speech": Module(
        ("src/ipyagent/audio/speech.py",),
        (
            "tests/audio/test_heard_words.py",
            "tests/audio/test_sentences.py",
            "tests/audio/test_voice_output.py",
            "tests/audio/test_voice_pipeline.py",
            "tests/audio/test_speculative_answers.py",
        ),
        0.80,
    ),
    "eval/metrics": Module(
        ("src/ipyagent/eval/metrics.py",),
        (
            "tests/eval/test_eval_scores.py",
            "tests/eval/test_metric_edges.py",
            "tests/eval/test_eval_rejected_calls.py",
            "tests/eval/test_check_verdicts.py",
            "tests/eval/test_scenario_scores.py",
        ),
        0.80,
    ),
    "kernel/approval": Module(
        ("src/ipyagent/kernel/approval.py",), ("tests/kernel/test_code_approval.py",), 0.80
    ),
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


def mutant_results(tree: Path) -> dict[str, str]:
    """Every mutant mutmut made in this copy of the tree, with its status (its files under mutants/)."""
    found: dict[str, str] = {}
    for meta in (tree / "mutants").rglob("*.py.meta"):
        data = json.loads(meta.read_text())
        for name, code in data.get("exit_code_by_key", {}).items():
            found[name] = status_of(code)
    return found


def equivalents() -> dict[str, str]:
    if not EQUIVALENT.exists():
        return {}
    table = tomllib.loads(EQUIVALENT.read_text())
    return {str(k): str(v) for k, v in table.get("equivalent", {}).items()}


def toml_value(value: object) -> str:
    """A TOML literal for the simple values mutmut's settings hold (JSON's are valid TOML)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return json.dumps(value)


def copy_tree(name: str, module: Module) -> Path:
    """A fresh copy of the sources and tests, its ``[tool.mutmut]`` narrowed to this module."""
    # One copy per run (by process id): two runs of the same module cannot tread on each other.
    tree = WORK / f"{name.replace('/', '.')}.{os.getpid()}"
    shutil.rmtree(tree, ignore_errors=True)
    tree.mkdir(parents=True)
    skip = shutil.ignore_patterns("__pycache__", "*.pyc", "artifacts", "node_modules")
    shutil.copytree(ROOT / "src", tree / "src", ignore=skip)
    shutil.copytree(ROOT / "tests", tree / "tests", ignore=skip)
    text = (ROOT / "pyproject.toml").read_text()
    settings = dict(tomllib.loads(text).get("tool", {}).get("mutmut", {}))
    settings["only_mutate"] = list(module.files)
    settings["pytest_add_cli_args_test_selection"] = list(module.tests)
    for test in module.left_out:
        settings["pytest_add_cli_args"] = [*settings.get("pytest_add_cli_args", []), "--deselect", test]
    section = "[tool.mutmut]\n" + "".join(f"{k} = {toml_value(v)}\n" for k, v in settings.items())
    kept: list[str] = []
    inside = False
    for line in text.splitlines():
        if line.strip().startswith("["):
            inside = line.strip() == "[tool.mutmut]"
        if not inside:
            kept.append(line)
    (tree / "pyproject.toml").write_text("\n".join(kept) + "\n\n" + section)
    return tree


# One process prints every survivor's diff (``mutmut show`` would start a process per mutant).
_SHOW = """
import json, sys
from mutmut.mutation.diff_apply import get_diff_for_mutant
print(json.dumps({name: get_diff_for_mutant(name) for name in json.load(sys.stdin)}))
"""


def diffs_of(tree: Path, names: list[str]) -> dict[str, str]:
    """Each mutant's change as a unified diff of its function."""
    if not names:
        return {}
    shown = subprocess.run(
        [sys.executable, "-c", _SHOW],
        cwd=tree,
        input=json.dumps(names),
        capture_output=True,
        text=True,
        check=False,
    )
    if shown.returncode != 0:
        return {name: f"(no diff: {shown.stderr.strip().splitlines()[-1:]})" for name in names}
    diffs: dict[str, str] = json.loads(shown.stdout)
    return diffs


def checkpoint_path(name: str) -> Path:
    return OUT / f"{name.replace('/', '.')}.json"


def previous_survivors(name: str) -> list[str]:
    """The mutants the module's last run did not notice (none if it has not run)."""
    path = checkpoint_path(name)
    if not path.exists():
        return []
    statuses: dict[str, str] = json.loads(path.read_text())["statuses"]
    return sorted(n for n, s in statuses.items() if s in NOT_NOTICED)


def run_module(name: str, max_children: int, survivors_only: bool = False) -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    log = OUT / f"{name.replace('/', '.')}.log"
    started = time.monotonic()
    tree = copy_tree(name, MODULES[name])
    # Only the last run's survivors: the code is unchanged, so what was killed stays killed and
    # only the tests added since can change a verdict.
    rerun = previous_survivors(name) if survivors_only else []
    with log.open("w") as out:
        # Its own process group: stopping this script stops mutmut's workers too.
        mutmut = subprocess.Popen(
            [*MUTMUT, "run", "--max-children", str(max_children), *rerun],
            cwd=tree,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            mutmut.wait()
        except BaseException:
            os.killpg(mutmut.pid, signal.SIGTERM)
            raise
    write_checkpoint(name, tree, time.monotonic() - started, rerun)


def write_checkpoint(name: str, tree: Path, seconds: float, rerun: list[str] | None = None) -> None:
    """The module's results from its copy of the tree; the first run's results are kept. After a
    run of ``rerun`` (the last run's survivors) alone, the other mutants keep their last status."""
    statuses = mutant_results(tree)
    path = checkpoint_path(name)
    previous = json.loads(path.read_text()) if path.exists() else None
    if rerun and previous:
        if set(statuses) != set(previous["statuses"]):  # the code changed: verdicts cannot carry over
            raise SystemExit(f"{name}: the mutants differ from the last run's; run the module in full")
        statuses = {**previous["statuses"], **{n: statuses[n] for n in rerun}}
    survivors = diffs_of(tree, sorted(n for n, s in statuses.items() if s in NOT_NOTICED))
    checkpoint: dict[str, Any] = {
        "module": name,
        "seconds": round(seconds),
        "finished": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "load_average": os.getloadavg()[0],
        "rechecked": len(rerun) if rerun else None,
        "statuses": statuses,
        "survivors": survivors,
    }
    # The first run's statuses stay, so the report can show the score before and after the tests
    # that the survivors led to.
    first = previous.get("first") or previous if previous else None
    if first:
        first = {k: v for k, v in first.items() if k not in ("survivors", "first")}
    checkpoint["first"] = first
    path.write_text(json.dumps(checkpoint, indent=1))
    print(f"{name}: {summary(statuses)}", flush=True)


def tally(statuses: dict[str, str]) -> tuple[Counter[str], int, int]:
    """``(count by status, mutants counted, mutants killed)``, equivalent mutants left out."""
    eq = equivalents()
    counted = Counter(s for n, s in statuses.items() if n not in eq and s in COUNTED)
    return counted, sum(counted.values()), sum(counted[s] for s in KILLED)


def summary(statuses: dict[str, str]) -> str:
    counted, total, killed = tally(statuses)
    score = killed / total if total else 0.0
    return (
        f"{killed}/{total} killed ({score:.0%}), {counted['survived']} survived, "
        f"{counted['no tests']} not reached by any test"
    )


def score(statuses: dict[str, str]) -> str:
    _, total, killed = tally(statuses)
    return f"{killed} of {total}: {killed / total:.0%}" if total else "-"


def report() -> None:
    eq = equivalents()
    lines = [
        "# Mutation testing",
        "",
        "Produced by `make mutation` (bench/mutation.py): each module in its own copy of the tree,",
        "with only its own unit tests. Score: the share of non-equivalent mutants that some test",
        'notices (fails, or makes time out). "First run" is the module\'s first run, before the tests its',
        'survivors led to; "latest" the last run. "Not checked": mutants a run stopped before (not',
        "counted).",
        "",
        "| module | mutants | equivalent | not checked | survived | not reached | first run | latest | goal "
        "| run time |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    details: list[str] = []
    generated: set[str] = set()
    for name, module in MODULES.items():
        path = checkpoint_path(name)
        if not path.exists():
            lines.append(f"| {name} | not run yet | | | | | | | {module.goal:.0%} | |")
            continue
        checkpoint = json.loads(path.read_text())
        statuses: dict[str, str] = checkpoint["statuses"]
        generated |= set(statuses)
        counted, _, _ = tally(statuses)
        first = checkpoint.get("first") or checkpoint
        n_eq = sum(1 for n in statuses if n in eq)
        unchecked = sum(1 for s in statuses.values() if s not in COUNTED)  # a run stopped early
        lines.append(
            f"| {name} | {len(statuses)} | {n_eq} | {unchecked} | {counted['survived']} | "
            f"{counted['no tests']} | "
            f"{score(first['statuses'])} | {score(statuses)} | {module.goal:.0%} | "
            f"{checkpoint['seconds'] / 60:.0f} min{rechecked_note(checkpoint)} |"
        )
        left = {n: d for n, d in checkpoint["survivors"].items() if n not in eq}
        if left:
            details += [f"## {name}: {len(left)} not noticed", ""]
            for mutant, diff in left.items():
                details += [
                    f"### {mutant} ({statuses[mutant]})",
                    "",
                    "```diff",
                    _near_change(diff),
                    "```",
                    "",
                ]
    lines += ["", *details]
    if eq:
        lines += ["## Equivalent mutants (not counted)", ""]
        lines += [f"- `{n}`: {reason}" for n, reason in sorted(eq.items()) if n in generated]
    stale = sorted(n for n in eq if n not in generated and any(n.startswith(p) for p in _run_prefixes()))
    if stale:
        lines += ["", "Listed as equivalent but no longer generated (the code moved): " + ", ".join(stale)]
    REPORT.parent.mkdir(parents=True, exist_ok=True)
    REPORT.write_text("\n".join(lines) + "\n")
    print(f"wrote {REPORT.relative_to(ROOT)}")


def rechecked_note(checkpoint: dict[str, Any]) -> str:
    n = checkpoint.get("rechecked")
    return f" ({n} survivors rechecked)" if n else ""


def _near_change(diff: str, context: int = 2) -> str:
    """The changed lines of a diff and ``context`` lines around them (mutmut shows whole functions)."""
    lines = diff.splitlines()
    body = [i for i, line in enumerate(lines) if not line.startswith(("---", "+++", "@@"))]
    changed = [i for i in body if lines[i][:1] in "+-"]
    keep = {j for i in changed for j in range(i - context, i + context + 1)} & set(body)
    return "\n".join(line for i, line in enumerate(lines) if i in keep)


def _run_prefixes() -> list[str]:
    """Name prefixes of the modules run so far (``ipyagent.fsm.``): only their equivalents can be stale."""
    prefixes = []
    for name, module in MODULES.items():
        if checkpoint_path(name).exists():
            for pattern in module.files:
                stem = pattern.removeprefix("src/").removesuffix(".py").removesuffix("*")
                prefixes.append(stem.replace("/", ".").rstrip(".") + ".")
    return prefixes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("modules", nargs="*", help=f"some of: {', '.join(MODULES)}")
    parser.add_argument("--max-children", type=int, default=1, help="mutants tested at once (default 1)")
    parser.add_argument("--report", action="store_true", help="only rewrite the report")
    parser.add_argument(
        "--survivors",
        action="store_true",
        help="only the mutants the last run did not notice (after adding tests; the code unchanged)",
    )
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit("stopped"))
    unknown = [m for m in args.modules if m not in MODULES]
    if unknown:
        parser.error(f"unknown module(s) {unknown}; choose from {', '.join(MODULES)}")
    if not args.report:
        todo = args.modules or [m for m in MODULES if not checkpoint_path(m).exists()]
        os.environ.setdefault("PYTHONHASHSEED", "0")
        for module in todo:
            run_module(module, args.max_children, args.survivors)
            report()
    report()


if __name__ == "__main__":
    main()
