"""The long fuzz run: the property-based tests of tests/hardening/test_fuzz_*.py (ledger renderers
and parsers, script and suite loaders, magic arguments, widget comm messages) with many more
examples than CI gives them, and a figure per target: inputs tried, failures found.

    python bench/fuzz.py                  # 500 examples per property (heavy ones: a fifth)
    python bench/fuzz.py --examples 5000 --seed 7

A failure prints hypothesis's minimal failing input; pin it with ``@example(...)`` on the property
once the fix is in ``src/``. Figures go to bench/results/fuzz.json.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
TESTS = ROOT / "tests" / "hardening"
RESULTS = Path(__file__).parent / "results"


class Outcomes:
    """A pytest plugin that remembers each property's target name and whether it failed."""

    def __init__(self) -> None:
        self.target: dict[str, str] = {}
        self.failed: dict[str, str] = {}
        self.seconds: dict[str, float] = {}

    def pytest_collection_modifyitems(self, items: list[Any]) -> None:
        for item in items:
            inner = getattr(getattr(getattr(item, "obj", None), "hypothesis", None), "inner_test", None)
            name = getattr(inner, "fuzz_target", None)
            if name is not None:
                self.target[item.nodeid] = name

    def pytest_runtest_logreport(self, report: Any) -> None:
        if report.when == "call":
            self.seconds[report.nodeid] = report.duration
        if report.failed:
            lines = str(report.longrepr).splitlines()
            self.failed[report.nodeid] = next(
                (line for line in reversed(lines) if line.startswith("E ")), lines[-1] if lines else "?"
            )


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--examples", type=int, default=500, help="examples per property (default 500)")
    parser.add_argument("--seed", type=int, default=None, help="hypothesis seed (default: random, printed)")
    parser.add_argument("-k", default="", help="only properties whose test name matches (pytest -k)")
    args = parser.parse_args()
    seed = args.seed if args.seed is not None else random.randrange(2**32)

    os.environ["IPYAGENT_FUZZ_EXAMPLES"] = str(args.examples)
    import pytest

    outcomes = Outcomes()
    started = time.monotonic()
    pytest_args = [
        *sorted(str(p) for p in TESTS.glob("test_fuzz_*.py")),
        "-q",
        "-p",
        "no:cacheprovider",
        "-o",
        "timeout=0",
        f"--hypothesis-seed={seed}",
        "--tb=line",
    ]
    if args.k:
        pytest_args += ["-k", args.k]
    code = pytest.main(pytest_args, plugins=[outcomes])
    elapsed = time.monotonic() - started
    tried = sys.modules["fuzz_kit"].TRIED if "fuzz_kit" in sys.modules else {}  # what the tests counted

    rows = []
    for nodeid, name in sorted(outcomes.target.items(), key=lambda kv: kv[1]):
        if nodeid not in outcomes.seconds and nodeid not in outcomes.failed:
            continue  # deselected
        rows.append(
            {
                "target": name,
                "test": nodeid.split("::")[-1],
                "inputs": tried.get(name, 0),
                "failures": int(nodeid in outcomes.failed),
                "seconds": round(outcomes.seconds.get(nodeid, 0.0), 1),
                "failure": outcomes.failed.get(nodeid),
            }
        )
    width = max([len(r["target"]) for r in rows] + [6])
    print(f"\nfuzz run: {args.examples} examples per property (seed {seed}), {elapsed:.0f} s")
    print(f"{'target':<{width}}  {'inputs':>8}  {'failures':>8}  {'seconds':>7}")
    print(f"{'-' * width}  {'-' * 8}  {'-' * 8}  {'-' * 7}")
    for r in rows:
        print(f"{r['target']:<{width}}  {r['inputs']:>8,}  {r['failures']:>8}  {r['seconds']:>7.1f}")
    total_inputs = sum(r["inputs"] for r in rows)
    total_failures = sum(r["failures"] for r in rows)
    print(f"{'total':<{width}}  {total_inputs:>8,}  {total_failures:>8}  {elapsed:>7.0f}")
    for r in rows:
        if r["failure"]:
            print(f"FAILED {r['target']}: {r['failure']}")

    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "fuzz.json").write_text(
        json.dumps(
            {"examples": args.examples, "seed": seed, "seconds": round(elapsed), "targets": rows}, indent=1
        ),
        encoding="utf-8",
    )
    return int(code)


if __name__ == "__main__":
    raise SystemExit(main())
