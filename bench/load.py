"""Load figures.

1. Virtual time: 100 sub-agents and 10,000 notifications a minute for 10 virtual minutes, in this
   process: every notification exactly once and in order per source, CPU time, and memory per
   ledger entry minute by minute (tracemalloc).
2. A real ipyagent kernel under load: a cell starts the same load on the kernel's agent (real
   clock: 100 sub-agents, 10,000 notifications a minute, plus 1,000 concurrent tools at the start)
   while ``kernel_info_request`` goes out every 20 ms on the shell and the control channel; each
   reply's latency is measured (goal: within 50 ms throughout).

    python bench/load.py [--virtual-minutes 10] [--kernel-minutes 1] [--skip-virtual] [--skip-kernel]

Prints tables; writes bench/results/load.json and bench/results/load.png (latency over time).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import itertools
import json
import os
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path
from typing import Any

from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import KernelManager

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
RESULTS = Path(__file__).parent / "results"

from ipyagent import Agent  # noqa: E402
from ipyagent.kernel.kernelspec import install  # noqa: E402
from ipyagent.testing import VirtualClock  # noqa: E402
from ipyagent.testing.latency import KernelProbe  # noqa: E402
from ipyagent.testing.load import LOAD_TOOLS, START, LoadModel, LoadPlan, all_agents, check_load  # noqa: E402


async def virtual(minutes: float, subagents: int, per_minute: int) -> dict[str, Any]:
    plan = LoadPlan(subagents=subagents, per_minute=per_minute, minutes=minutes)
    samples: list[tuple[float, int, int]] = []
    tracemalloc.start()
    cpu = time.process_time()
    async with VirtualClock() as clock:
        model = LoadModel(plan)
        async with Agent(model, tools=LOAD_TOOLS, clock=clock) as agent:
            gc.collect()
            samples.append((0.0, tracemalloc.get_traced_memory()[0], 0))

            async def sample() -> None:
                while True:
                    await clock.sleep(60)
                    gc.collect()
                    entries = sum(len(a.ledger.own) for a in all_agents(agent))
                    samples.append((clock.now(), tracemalloc.get_traced_memory()[0], entries))

            # The agent's own tasks (its loop, its task group) run until it closes; count the rest.
            baseline_tasks = len(asyncio.all_tasks())
            sampler = asyncio.get_running_loop().create_task(sample())
            await agent.send(START)
            await agent.settled()
            sampler.cancel()
            await asyncio.gather(sampler, return_exceptions=True)
            cpu = time.process_time() - cpu
            result = check_load(agent, model)
            tasks_left = len(asyncio.all_tasks()) - baseline_tasks
    tracemalloc.stop()
    pairs = itertools.pairwise(samples)
    per_entry = [(b[1] - a[1]) / (b[2] - a[2]) for a, b in pairs if b[2] > a[2]]
    return {
        "virtual_minutes": minutes,
        "subagents": subagents,
        "notifications": result.notifications,
        "expected": result.expected,
        "ok": result.ok,
        "per_minute": result.per_minute,
        "problems": result.duplicates + result.missing + result.out_of_order + result.other,
        "cpu_seconds": cpu,
        "generations": model.generations,
        "entries": samples[-1][2],
        "memory_mb": (samples[-1][1] - samples[0][1]) / 1e6,
        "bytes_per_entry_by_minute": per_entry,
        "tasks_left": tasks_left,
    }


SETUP = """
import gc, os, time
from ipyagent.kernel.registry import get_session
from ipyagent.testing.load import LoadModel, LoadPlan, probe, work
_plan = LoadPlan(subagents={subagents}, per_minute={per_minute}, minutes={minutes}, burst={burst},
                 burst_seconds={burst_seconds})
_model = LoadModel(_plan)
_session = get_session(get_ipython())
_session.model = _model
def _memory():
    gc.collect()
    rss = int(open('/proc/self/statm').read().split()[1]) * os.sysconf('SC_PAGE_SIZE')
    return {{"rss_mb": rss / 1e6, "gc_objects": len(gc.get_objects())}}
_before = _memory()
_gc_pauses = []  # (wall time, generation, seconds) of collections longer than 10 ms
def _gc_watch(phase, info, _t=[0.0]):
    if phase == "start":
        _t[0] = time.perf_counter()
    elif time.perf_counter() - _t[0] > 0.01:
        _gc_pauses.append((time.time(), info["generation"], time.perf_counter() - _t[0]))
gc.callbacks.append(_gc_watch)
"""

REPORT = """
import json, sys
from ipyagent.testing.load import check_load, all_agents, peak_concurrency
_agents = all_agents(_session.agent)
_r = check_load(_session.agent, _model, timer_order=False)
_strict = check_load(_session.agent, _model)
print(json.dumps({
    "ok": _r.ok, "notifications": _r.notifications, "expected": _r.expected, "per_minute": _r.per_minute,
    "timers_reordered": len(_strict.out_of_order),
    "problems": (_r.duplicates + _r.missing + _r.out_of_order + _r.other)[:10],
    "subagents": len(_session.agent.children), "settled": _session.agent.is_settled(),
    "states": sorted({str(a.state) for a in _agents}), "entries": sum(len(a.ledger) for a in _agents),
    "peak_tools": peak_concurrency(_agents), "generations": _model.generations,
    "switch_interval": sys.getswitchinterval(), "before": _before, "after": _memory(),
    "gc_pauses": _gc_pauses,
}))
"""


def start_kernel(tmp: Path, env: dict[str, str]) -> tuple[KernelManager, Any]:
    install(prefix=str(tmp / "prefix"))
    ksm = KernelSpecManager(kernel_dirs=[str(tmp / "prefix/share/jupyter/kernels")])
    km = KernelManager(kernel_name="ipyagent", kernel_spec_manager=ksm, connection_file=str(tmp / "k.json"))
    km.cache_ports = False
    km.start_kernel(env=env, cwd=str(tmp))
    kc = km.client()
    kc.start_channels()
    kc.wait_for_ready(timeout=60)
    return km, kc


def cell(kc: Any, code: str, timeout: float = 120) -> str:
    """Run a cell; its stdout."""
    out: list[str] = []
    reply = kc.execute_interactive(
        code,
        timeout=timeout,
        output_hook=lambda m: out.append(m["content"].get("text", "")) if m["msg_type"] == "stream" else None,
    )
    if reply["content"]["status"] != "ok":
        raise RuntimeError(f"cell failed: {reply['content']}\n{code}")
    return "".join(out)


def kernel_run(
    minutes: float,
    subagents: int,
    per_minute: int,
    burst: int,
    interval: float,
    code: str = "",
    src: str = str(ROOT / "src"),
) -> dict[str, Any]:
    """Start a kernel, put it under load from a cell, probe it; the figures."""
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        for name in ("runtime", "ipython", "sessions"):
            (tmp / name).mkdir()
        env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join([src, str(ROOT / "src"), os.environ.get("PYTHONPATH", "")]),
            "JUPYTER_RUNTIME_DIR": str(tmp / "runtime"),
            "IPYTHONDIR": str(tmp / "ipython"),
            "IPYAGENT_SESSION_DIR": str(tmp / "sessions"),
            "JPY_SESSION_NAME": str(tmp / "load.ipynb"),
        }
        km, kc = start_kernel(tmp, env)
        try:
            setup = SETUP.format(
                subagents=subagents, per_minute=per_minute, minutes=minutes, burst=burst, burst_seconds=5.0
            )
            cell(kc, setup)
            if code:
                cell(kc, code)
            cell(kc, "%agent --help")  # the agent's modules are loaded before the load starts
            plan = LoadPlan(subagents=subagents, per_minute=per_minute, minutes=minutes)
            idle_probe = KernelProbe(kc, interval)
            with idle_probe:
                time.sleep(3)
            t0 = time.perf_counter()
            wall0 = time.time()
            with KernelProbe(kc, interval) as probe:
                kc.execute(f"%agent {START}")
                # Until the last calls are due, plus the time to hear the last reports.
                time.sleep(plan.horizon_lead + minutes * 60 + 5)
            loaded = time.perf_counter() - t0
            waited = time.perf_counter()
            cell(kc, "%agent --wait --timeout 600", timeout=700)
            waited = time.perf_counter() - waited
            report = json.loads(cell(kc, REPORT).strip().splitlines()[-1])
        finally:
            kc.stop_channels()
            km.shutdown_kernel(now=True)
    return {
        "probe": probe,
        "idle": idle_probe,
        "report": report,
        "seconds_under_load": loaded,
        "seconds_to_settle_after": waited,
        "gc_pauses": [(t - wall0, g, s) for t, g, s in report["gc_pauses"]],
    }


def picture(probe: KernelProbe, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(9, 3.5), dpi=110)
    for pings, colour in ((probe.shell, "#1565c0"), (probe.control, "#ef6c00")):
        xs = [s for s, x in zip(pings.sent, pings.latency, strict=True) if x is not None]
        ys = [x * 1000 for x in pings.latency if x is not None]
        ax.plot(xs, ys, ".", ms=2, color=colour, label=f"{pings.channel} ({len(ys)} requests)")
    ax.axhline(50, color="#c62828", lw=1, ls="--", label="50 ms goal")
    ax.set_yscale("log")
    ax.set_xlabel("seconds since the load started")
    ax.set_ylabel("kernel_info reply, ms")
    ax.set_title("Kernel reply latency while the agent runs the load")
    ax.legend(loc="upper right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--virtual-minutes", type=float, default=10)
    parser.add_argument("--kernel-minutes", type=float, default=1)
    parser.add_argument("--subagents", type=int, default=100)
    parser.add_argument("--per-minute", type=int, default=10_000)
    parser.add_argument("--tools", type=int, default=1000, help="concurrent tools at the start (kernel run)")
    parser.add_argument("--interval", type=float, default=0.02)
    parser.add_argument("--skip-virtual", action="store_true")
    parser.add_argument("--skip-kernel", action="store_true")
    parser.add_argument("--src", default=str(ROOT / "src"), help="the ipyagent sources the kernel runs")
    parser.add_argument(
        "--kernel-code", default="", help="run this in the kernel before the load (experiments)"
    )
    args = parser.parse_args()
    RESULTS.mkdir(exist_ok=True)
    results: dict[str, Any] = {}
    if not args.skip_virtual:
        v = asyncio.run(virtual(args.virtual_minutes, args.subagents, args.per_minute))
        results["virtual"] = v
        print(
            f"virtual time: {v['subagents']} sub-agents, {args.per_minute} notifications/min, "
            f"{v['virtual_minutes']:g} min"
        )
        print(
            f"  notifications {v['notifications']} of {v['expected']} expected; "
            f"exactly once and in order: {v['ok']}"
        )
        print(f"  per virtual minute: {list(v['per_minute'].values())}")
        print(
            f"  CPU {v['cpu_seconds']:.0f} s "
            f"({v['cpu_seconds'] / v['virtual_minutes']:.1f} s per virtual minute); "
            f"{v['generations']} generations; {v['entries']} ledger entries"
        )
        print(
            f"  memory {v['memory_mb']:.1f} MB; bytes per entry by minute: "
            f"{', '.join(f'{x:.0f}' for x in v['bytes_per_entry_by_minute'])}"
        )
        print(f"  tasks left after settling (beyond the agent's own): {v['tasks_left']}")
    if not args.skip_kernel:
        k = kernel_run(
            args.kernel_minutes,
            args.subagents,
            args.per_minute,
            args.tools,
            args.interval,
            args.kernel_code,
            args.src,
        )
        probe, idle, rep = k["probe"], k["idle"], k["report"]
        results["kernel"] = {
            "shell": probe.shell.summary(),
            "control": probe.control.summary(),
            "idle_shell": idle.shell.summary(),
            "iopub": dict(probe.iopub),
            "report": rep,
            "seconds_under_load": k["seconds_under_load"],
            "seconds_to_settle_after": k["seconds_to_settle_after"],
            "gc_pauses": k["gc_pauses"],
            "latency_series": {
                "shell": list(zip(probe.shell.sent, probe.shell.latency, strict=True)),
                "control": list(zip(probe.control.sent, probe.control.latency, strict=True)),
            },
        }
        print(
            f"kernel under load (real clock, {args.kernel_minutes:g} min, {args.subagents} sub-agents, "
            f"{args.per_minute} notifications/min, {args.tools} tools at once):"
        )
        print("  kernel_info every 20 ms   requests  unanswered    p50     p95     p99     max   >50ms")
        for name, p in (
            ("idle kernel, shell", idle.shell),
            ("shell", probe.shell),
            ("control", probe.control),
        ):
            s = p.summary()
            print(
                f"  {name:<24} {s['requests']:>8} {s['unanswered']:>10} {s['p50_ms']:6.1f}  "
                f"{s['p95_ms']:6.1f}  {s['p99_ms']:6.1f}  {s['max_ms']:6.1f}  {s['over_50ms']:>5}"
            )
        print(
            f"  load achieved: {rep['notifications']} notifications of {rep['expected']} "
            f"(per minute {list(rep['per_minute'].values())}); exactly once and in order: {rep['ok']} "
            f"(sources whose timers swapped: {rep['timers_reordered']}); "
            f"peak concurrent tools {rep['peak_tools']}; {rep['subagents']} sub-agents; "
            f"{rep['generations']} generations; settled {k['seconds_to_settle_after']:.1f} s after the probe"
        )
        print(
            f"  IOPub messages while loaded: {sum(probe.iopub.values())} "
            f"({sum(probe.iopub.values()) / k['seconds_under_load']:.0f}/s; {dict(probe.iopub)})"
        )
        print(
            f"  kernel memory before/after: RSS {rep['before']['rss_mb']:.0f} / "
            f"{rep['after']['rss_mb']:.0f} MB, "
            f"gc objects {rep['before']['gc_objects']} / {rep['after']['gc_objects']}; "
            f"{rep['entries']} ledger entries"
        )
        pauses = k["gc_pauses"]
        print(
            f"  garbage collections over 10 ms in the kernel: {len(pauses)}; longest "
            f"{max((p[2] for p in pauses), default=0) * 1000:.0f} ms; "
            f"at {', '.join(f'{t:.1f} s (gen {g}, {s * 1000:.0f} ms)' for t, g, s in pauses[:8])}"
        )
        slow = [
            (round(t, 1), round(x * 1000))
            for t, x in zip(probe.shell.sent, probe.shell.latency, strict=True)
            if x is not None and x > 0.1
        ]
        print(f"  shell replies over 100 ms (s, ms): {slow[:12]}")
        picture(probe, RESULTS / "load.png")
    (RESULTS / "load.json").write_text(json.dumps(results, indent=1, default=str))


if __name__ == "__main__":
    main()
