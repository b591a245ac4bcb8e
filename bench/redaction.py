"""How long redaction takes on what passes through it, this tree's against a git revision's, side by
side in one run.

    python bench/redaction.py               # against HEAD
    python bench/redaction.py --against REV

Every ledger entry, tool result, error and streamed delta passes through ``redact``, so its cost
on text that holds no secret is what a user pays. The texts: 200 characters of prose, the same
with the hyphens and underscores of technical writing, a 2 KB JSON tool result, a 5-character
streamed delta, and prose holding a key. Both versions must give the same output on every text
(else the comparison stops). Prints microseconds per call (the median of interleaved rounds).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parent.parent
SOURCE = "src/ipyagent/redaction.py"

PROSE = (
    "The agent answered the question about the weather in Paris while the tool ran; it said the "
    "forecast would be sunny with a light breeze, and that tomorrow looks much the same. Nothing "
    "else to report."
)
TECHNICAL = (
    "Call load_config() with a well-known path; the read-only cache keeps a per-user copy, so "
    "re-running the cell is cheap. The test_settings module sets max_retries to 3 and a time-out "
    "of 30 s."
)
RESULT = json.dumps(
    [{"city": f"Town {i}", "temp": 10 + i / 4, "sky": "clear", "wind": [3, 5], "ok": True} for i in range(40)]
)[:2000]
DELTA = "Hello"
WITH_KEY = "Use the key sk-proj-4fJk29aLqP0zXc81NvBm to call the service; it expires tomorrow at noon."
TEXTS = {
    "prose, 200 chars": PROSE,
    "technical prose, 200 chars": TECHNICAL,
    "JSON result, 2 KB": RESULT,
    "streamed delta, 5 chars": DELTA,
    "prose with a key": WITH_KEY,
}


def load(source: str, name: str) -> ModuleType:
    spec = importlib.util.spec_from_loader(name, loader=None)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses and the like look themselves up here
    exec(compile(source, f"<{name}>", "exec"), module.__dict__)
    return module


def per_call(redact: Callable[[str], str], text: str, calls: int) -> float:
    started = time.perf_counter()
    for _ in range(calls):
        redact(text)
    return (time.perf_counter() - started) / calls * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--against", default="HEAD", help="git revision to compare with (default HEAD)")
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--calls", type=int, default=2000, help="calls per round")
    args = parser.parse_args()
    old_source = subprocess.run(
        ["git", "show", f"{args.against}:{SOURCE}"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    versions = {
        args.against: load(old_source, "redaction_before"),
        "this tree": load((ROOT / SOURCE).read_text(), "redaction_after"),
    }
    for label, text in TEXTS.items():
        outputs = {name: module.redact(text) for name, module in versions.items()}
        if len(set(outputs.values())) != 1:
            sys.exit(f"the versions disagree on {label!r}: {outputs}")
    print(f"{'text':<28}" + "".join(f"{name:>14}" for name in versions) + f"{'ratio':>8}")
    for label, text in TEXTS.items():
        timings: dict[str, list[float]] = {name: [] for name in versions}
        for _ in range(args.rounds):  # interleaved, so both see the same load
            for name, module in versions.items():
                timings[name].append(per_call(module.redact, text, args.calls))
        medians = [statistics.median(t) for t in timings.values()]
        cells = "".join(f"{m:>11.2f} us" for m in medians)
        print(f"{label:<28}{cells}{medians[1] / medians[0]:>8.2f}")


if __name__ == "__main__":
    main()
