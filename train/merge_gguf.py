"""Merge a llama.cpp LoRA adapter into the model it was trained on, as one GGUF file.

    python train/merge_gguf.py BASE.gguf ADAPTER.gguf OUT.gguf [--type q8_0]

An adapter applied at run time costs llama.cpp about a third of its speed on this small model;
merged (Q8_0) weights ran at about the base model's speed. ``--type`` is the merged tensors' type
(``same`` keeps the base file's).
Re-quantizing to 4 bits loses most of what an adapter adds, so the error of the merged weights is
printed, relative to the adapter's change (0%: exact; 100%: as if there were no adapter). The
``local`` backend does the same merge on its own, into the user's cache, for an adapter it is given.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ipyagent.dispatch.backends.local.merge import merge_adapter


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("base", type=Path)
    p.add_argument("adapter", type=Path)
    p.add_argument("out", type=Path)
    p.add_argument("--type", default="q8_0", help="type of the merged tensors: q8_0, q4_1, f16, same")
    args = p.parse_args()
    error = merge_adapter(args.base, args.adapter, args.out, args.type)
    size = args.out.stat().st_size / 1e6
    print(f"merged ({args.type}): error {error:.0%} of the adapter's change; {args.out} ({size:.0f} MB)")


if __name__ == "__main__":
    main()
