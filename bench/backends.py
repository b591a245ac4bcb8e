"""Speed figures for the model backends. Run with ``make bench``.

1. The local default (SmolLM2-135M on llama.cpp, in process): load time, time to first token and
   tokens per second, for a plain answer.
2. The cost of our backend layer: the same streamed reply fetched through the OpenAI and Anthropic
   SDKs directly, and through our backends (which also render the ledger and parse the stream),
   from one local HTTP server that answers at once. The difference is our overhead per call.

Prints tables and writes the figures to bench/results/backends.json.
"""

from __future__ import annotations

import json
import statistics
import time
from pathlib import Path
from typing import Any

import anyio

from ipyagent import Ledger
from ipyagent.agents import DEFAULT_INSTRUCTIONS
from ipyagent.clock import RealClock
from ipyagent.dispatch.backends import StatusChunk, TextChunk, UsageChunk
from ipyagent.dispatch.backends.anthropic import AnthropicBackend
from ipyagent.dispatch.backends.local import LocalBackend
from ipyagent.dispatch.backends.openai import OpenAIBackend
from ipyagent.ledger.render.context import Context
from ipyagent.testing.providers import Text, fake_provider

RESULTS = Path(__file__).parent / "results"
figures: dict[str, Any] = {}


def title(text: str) -> None:
    print(f"\n{text}\n{'-' * len(text)}")


def context(message: str, history: int = 0) -> Context:
    ledger = Ledger("bench")
    ledger.append("system", DEFAULT_INSTRUCTIONS, time=time.time())
    for n in range(history):
        ledger.append("user", f"question {n}", time=time.time())
        ledger.append("assistant", f"answer {n}", time=time.time(), status="complete")
    ledger.append("user", message, time=time.time())
    return Context(entries=list(ledger), now=time.time())


async def bench_local(runs: int = 3) -> None:
    title("1. The local model on llama.cpp, 2 CPU cores: plain, and as shipped (fine-tuned adapter merged)")
    models = {
        "local_plain": (
            "SmolLM2-135M-Instruct Q4_1",
            LocalBackend(adapter_path=None, max_tokens=96, temperature=0),
        ),
        "local": ("the default: + adapter, merged (Q8_0)", LocalBackend(max_tokens=96, temperature=0)),
    }
    for key, (name, backend) in models.items():
        print(f"   {name}")
        figures[key] = await local_rows(backend, runs)


async def local_rows(backend: LocalBackend, runs: int) -> list[dict[str, Any]]:
    rows = []
    for n in range(runs):
        started = time.perf_counter()
        load = None
        usage = None
        async for chunk in backend.stream(context("Tell me about the city of Paris."), agent="bench"):
            if isinstance(chunk, StatusChunk) and chunk.text.startswith("local model loaded"):
                load = time.perf_counter() - started
            elif isinstance(chunk, UsageChunk):
                usage = chunk.usage
        assert usage is not None and usage.first_token_seconds is not None
        decode = usage.total_seconds - usage.first_token_seconds if usage.total_seconds else 0.0
        tps = (usage.output_tokens - 1) / decode if decode > 0 else 0.0
        rows.append(
            {
                "load_s": load,
                "ttft_s": usage.first_token_seconds,
                "tokens_per_s": tps,
                "prompt_tokens": usage.input_tokens,
                "output_tokens": usage.output_tokens,
            }
        )
        label = "first call (loads)" if n == 0 else f"call {n + 1}"
        load_text = f"{load:.2f} s" if load is not None else "-"
        print(
            f"   {label:<20} load {load_text:>7}   first token {usage.first_token_seconds * 1000:6.0f} ms"
            f"   {tps:6.1f} tokens/s   ({usage.input_tokens} prompt, {usage.output_tokens} output tokens)"
        )
    return rows


async def sdk_openai(client: Any, request: dict[str, Any]) -> float:
    """The SDK on its own: the same request our backend sends, fetched and read to the end."""
    started = time.perf_counter()
    stream = await client.chat.completions.create(**request)
    async for _ in stream:
        pass
    return time.perf_counter() - started


async def sdk_anthropic(client: Any, request: dict[str, Any]) -> float:
    started = time.perf_counter()
    stream = await client.messages.create(**request)
    async for _ in stream:
        pass
    return time.perf_counter() - started


async def ours(backend: Any, ctx: Context) -> float:
    started = time.perf_counter()
    async for chunk in backend.stream(ctx, agent="bench"):
        assert not isinstance(chunk, TextChunk) or chunk.text
    return time.perf_counter() - started


async def bench_overhead(calls: int = 200) -> None:
    title("2. Backend layer overhead per call, against one local server answering at once")
    reply = "The capital of France is Paris, a city on the Seine with many museums."
    ctx = context("hi", history=20)
    print(f"   {calls} calls each, interleaved, one client each; a 21-turn ledger; medians")
    print(f"   {'provider':<10} {'SDK alone':>10} {'through ipyagent':>17} {'overhead':>9}   goal < 2 ms")
    for provider in ("openai", "anthropic"):
        async with fake_provider(*[Text(reply) for _ in range(3 * calls)]) as server:
            # Two backends: one is only the SDK client (and the request it would send, built
            # once), the other does everything per call. Same settings, same server.
            options: dict[str, Any] = {"api_key": "sk-bench", "clock": RealClock(), "max_retries": 0}
            if provider == "openai":
                backend: Any = OpenAIBackend("m", base_url=server.openai_url, **options)
                bare: Any = OpenAIBackend("m", base_url=server.openai_url, **options)
                direct = sdk_openai
            else:
                backend = AnthropicBackend("m", base_url=server.anthropic_url, **options)
                bare = AnthropicBackend("m", base_url=server.anthropic_url, **options)
                direct = sdk_anthropic
            client, request = bare.client(), bare.request(ctx)
            sdk, wrapped = [], []
            for _ in range(calls):
                sdk.append(await direct(client, request))
                wrapped.append(await ours(backend, ctx))
            await backend.aclose()
            await bare.aclose()
        a, b = statistics.median(sdk) * 1000, statistics.median(wrapped) * 1000
        verdict = "PASS" if b - a < 2 else "MISS"
        print(f"   {provider:<10} {a:>8.2f} ms {b:>14.2f} ms {b - a:>6.2f} ms   {verdict}")
        figures[f"overhead_{provider}_ms"] = {"sdk": a, "ipyagent": b, "overhead": b - a}


async def main() -> None:
    print("ipyagent backend benchmarks")
    await bench_local()
    await bench_overhead()
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "backends.json").write_text(json.dumps(figures, indent=2))
    print(f"\nfigures written to {RESULTS / 'backends.json'}")


if __name__ == "__main__":
    anyio.run(main)
