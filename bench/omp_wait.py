"""OMP_WAIT_POLICY: do llama.cpp's OpenMP threads spin (ACTIVE) or sleep (PASSIVE) while they
wait? Side by side in one run, alternating, each in a fresh process (the policy is read when the
OpenMP runtime loads):

1. the local model alone: time for a 64-token answer;
2. the same while a second process does the same (two kernels with the local model on two cores,
   or a kernel whose voice pipeline works while the model generates).

    python bench/omp_wait.py [--rounds 3]

Prints a table; writes bench/results/omp_wait.json.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = Path(__file__).parent / "results"

GENERATE = """
import time, sys
sys.path.insert(0, {src!r})
from llama_cpp import Llama
from ipyagent.dispatch.backends.local import default_model_path
llm = Llama(model_path=str(default_model_path()), n_ctx=512, n_threads=2, verbose=False)
never_stop = {{llm.token_eos(): -100.0}}  # always 64 tokens
llm("Hello", max_tokens=4)
times = []
for _ in range(3):
    t = time.perf_counter()
    out = llm("Once upon a time", max_tokens=64, temperature=0, logit_bias=never_stop)
    assert out["usage"]["completion_tokens"] == 64, out["usage"]
    times.append(time.perf_counter() - t)
print(min(times))
"""


def run(policy: str, together: int) -> list[float]:
    code = GENERATE.format(src=str(ROOT / "src"))
    env = {**os.environ, "OMP_WAIT_POLICY": policy}
    processes = [
        subprocess.Popen([sys.executable, "-c", code], env=env, stdout=subprocess.PIPE, text=True)
        for _ in range(together)
    ]
    return [float(p.communicate()[0].strip()) for p in processes]


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    results: dict[str, list[float]] = {"load average before": list(os.getloadavg())}
    RESULTS.mkdir(exist_ok=True)
    for round_ in range(args.rounds):
        for together in (1, 2):
            for policy in ("ACTIVE", "PASSIVE"):
                seconds = run(policy, together)
                results.setdefault(f"{policy} x{together}", []).extend(seconds)
                print(f"round {round_ + 1}: {policy} x{together}: {seconds}", flush=True)
                # A stopped run keeps what it measured.
                (RESULTS / "omp_wait.json").write_text(json.dumps(results, indent=1))
    results["load average after"] = list(os.getloadavg())
    print("| OMP_WAIT_POLICY | processes at once | 64 tokens, median (s) | runs |")
    print("|---|---|---|---|")
    for key, values in results.items():
        if " x" not in key:
            continue
        policy, together = key.split(" x")
        print(f"| {policy} | {together} | {statistics.median(values):.2f} | {len(values)} |")
    print(f"load average before {results['load average before']}, after {results['load average after']}")
    (RESULTS / "omp_wait.json").write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
