"""Kernel figures: start-up to the first kernel_info reply (ipyagent vs the plain IPython kernel,
alternating, in one run) and the latency of an %agent cell (execute_request to execute_reply).

    python bench/kernel.py [--rounds 5] [--cells 30]

Goals: start-up ratio <= 1.3 (the agent and its model load lazily); %agent cell < 20 ms.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import KernelManager

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from ipyagent.kernel.kernelspec import install  # noqa: E402


def start(name: str, ksm: KernelSpecManager, tmp: Path, env: dict[str, str]) -> tuple[KernelManager, float]:
    km = KernelManager(
        kernel_name=name,
        kernel_spec_manager=ksm,
        connection_file=str(tmp / f"k-{time.monotonic_ns()}.json"),
    )
    t0 = time.perf_counter()
    km.start_kernel(env=env, cwd=str(tmp))
    kc = km.client()
    kc.start_channels()
    kc.wait_for_ready(timeout=60)  # sends kernel_info_request until the first reply
    elapsed = time.perf_counter() - t0
    kc.stop_channels()
    return km, elapsed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--cells", type=int, default=30)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        install(prefix=str(tmp / "prefix"))
        ours = KernelSpecManager(kernel_dirs=[str(tmp / "prefix/share/jupyter/kernels")])
        plain = KernelSpecManager()
        (tmp / "ipython").mkdir()
        script = tmp / "script.json"
        script.write_text(json.dumps([{"delay": 0.0, "text": "ok"}] * (args.cells + 5)))
        env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")]),
            "IPYTHONDIR": str(tmp / "ipython"),
            "IPYAGENT_SESSION_DIR": str(tmp / "sessions"),
            "IPYAGENT_MODEL": f"scripted:{script}",
        }
        times: dict[str, list[float]] = {"python3": [], "ipyagent": []}
        for _ in range(args.rounds):
            for name, ksm in (("python3", plain), ("ipyagent", ours)):
                km, elapsed = start(name, ksm, tmp, env)
                times[name].append(elapsed)
                km.shutdown_kernel(now=True)
        base, agent = statistics.median(times["python3"]), statistics.median(times["ipyagent"])
        print(f"kernel start to first kernel_info reply (median of {args.rounds}, alternating):")
        print(f"  ipykernel (python3)  {base * 1000:7.0f} ms")
        print(f"  ipyagent             {agent * 1000:7.0f} ms")
        print(f"  ratio                {agent / base:7.2f}   (goal <= 1.3)")

        km, _ = start("ipyagent", ours, tmp, env)
        kc = km.client()
        kc.start_channels()
        kc.wait_for_ready(timeout=60)

        def cell(code: str) -> float:
            t0 = time.perf_counter()
            reply = kc.execute(code, reply=True, timeout=60)
            elapsed = time.perf_counter() - t0
            assert reply["content"]["status"] == "ok", reply["content"]
            return elapsed

        first = cell("%agent hello")
        cell("%agent --wait --timeout 30")
        latencies = []
        for i in range(args.cells):
            latencies.append(cell(f"%agent message {i}"))
            cell("%agent --wait --timeout 30")
        baseline = [cell("1 + 1") for _ in range(args.cells)]
        kc.stop_channels()
        km.shutdown_kernel(now=True)

        # A user's first %agent usually follows other cells: after the first cell the agent's
        # modules load in the background.
        km, _ = start("ipyagent", ours, tmp, env)
        kc = km.client()
        kc.start_channels()
        kc.wait_for_ready(timeout=60)
        cell("x = 1")
        time.sleep(8)
        warm_first = cell("%agent hello")
        kc.stop_channels()
        km.shutdown_kernel(now=True)
        latencies.sort()
        print(f"%agent cell, execute_request to execute_reply ({args.cells} cells):")
        print(f"  first cell (starts the agent thread and the session file)  {first * 1000:7.1f} ms")
        print(f"  first cell, 8 s after an earlier cell (modules warmed up)     {warm_first * 1000:7.1f} ms")
        print(f"  median  {statistics.median(latencies) * 1000:6.1f} ms   (goal < 20 ms)")
        print(f"  p90     {latencies[int(len(latencies) * 0.9) - 1] * 1000:6.1f} ms")
        print(f"  a '1 + 1' cell, for comparison: median {statistics.median(baseline) * 1000:.1f} ms")


if __name__ == "__main__":
    main()
