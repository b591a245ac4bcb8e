"""Write a LoRA adapter trained by ``train/finetune.py`` as a llama.cpp LoRA adapter (GGUF).

    python train/export_gguf.py runs/lora/final src/ipyagent/dispatch/backends/models/async-lora.gguf

Tensor names follow llama.cpp's (``blk.N.attn_v.weight.lora_a``); ``lora_a`` is (rank, inputs)
and ``lora_b`` (outputs, rank), stored as float16. The adapter's alpha goes in the header, so
llama.cpp applies ``alpha / rank`` as PEFT does.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

NAMES = {
    "self_attn.v_proj": "attn_v",
    "self_attn.o_proj": "attn_output",
    "mlp.gate_proj": "ffn_gate",
    "mlp.up_proj": "ffn_up",
    "mlp.down_proj": "ffn_down",
}
_KEY = re.compile(r"layers\.(\d+)\.(.+)\.lora_([AB])\.weight$")


def main(adapter_dir: str, out: str) -> None:
    import gguf
    import numpy as np
    from safetensors.numpy import load_file

    folder = Path(adapter_dir)
    config = json.loads((folder / "adapter_config.json").read_text())
    tensors = load_file(str(folder / "adapter_model.safetensors"))
    writer = gguf.GGUFWriter(out, "llama")
    writer.add_string("general.type", "adapter")
    writer.add_string("adapter.type", "lora")
    writer.add_float32("adapter.lora.alpha", float(config["lora_alpha"]))
    writer.add_string("general.name", "ipyagent asynchronous tool use LoRA for SmolLM2-135M-Instruct")
    count = 0
    for key in sorted(tensors):
        m = _KEY.search(key)
        if m is None or m.group(2) not in NAMES:
            raise SystemExit(f"unexpected tensor {key}")
        layer, module, which = m.groups()
        name = f"blk.{layer}.{NAMES[module]}.weight.lora_{which.lower()}"
        writer.add_tensor(name, tensors[key].astype(np.float16))
        count += 1
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    size = Path(out).stat().st_size / 1e6
    print(f"{count} tensors, rank {config['r']}, alpha {config['lora_alpha']}: {out} ({size:.1f} MB)")


if __name__ == "__main__":
    main(*sys.argv[1:3])
