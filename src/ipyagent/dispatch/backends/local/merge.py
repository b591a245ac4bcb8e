"""A LoRA adapter merged into the weights it was trained on, as one GGUF file.

llama.cpp applying an adapter at run time computes two extra products per adapted matrix and
token: on the 135M model that is about a third of its speed. Merged (Q8_0) weights ran at about the
base model's speed (README, "Fine-tuning"). Each adapted tensor is dequantized, given
``alpha / rank * B @ A`` and quantized again; every other tensor and all metadata are copied.

The type of the merged tensors matters. The base weights sit exactly on a 4-bit grid whose steps
are a fifteenth of a 32-weight block's range, and most of what an adapter adds is smaller than half
a step: back to 4 bits, it rounds away. Q8_0 keeps it. ``merge_adapter`` returns how far the
written weights are from the intended ones, measured against the adapter's change (0: exact; 1:
as if there were no adapter), so a caller can tell.
"""

from __future__ import annotations

import hashlib
import math
import os
import secrets
from pathlib import Path
from typing import Any

from ....errors import ModelError

MERGED_TYPE = "Q8_0"


def cache_dir() -> Path:
    """Where merged models are kept: ``$IPYAGENT_CACHE`` or the user's cache folder."""
    if folder := os.environ.get("IPYAGENT_CACHE"):
        return Path(folder)
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "ipyagent"


def merged_path(base: Path, adapter: Path, qtype: str = MERGED_TYPE) -> Path:
    """The cache file for this base and adapter: a new adapter or base gets a new file."""
    digest = hashlib.sha256(f"{base.name}:{base.stat().st_size}:".encode())
    digest.update(adapter.read_bytes())
    return cache_dir() / f"{base.stem}+{adapter.stem}.{digest.hexdigest()[:12]}.{qtype.lower()}.gguf"


def merge_adapter(
    base: Path,
    adapter: Path,
    out: Path,
    qtype: str = MERGED_TYPE,
) -> float:
    """Write ``base`` with ``adapter`` merged into ``out`` (atomically); return the error of the
    written weights relative to the adapter's change (0.0: exact, 1.0: the change is lost).
    ``qtype`` is the merged tensors' type (``SAME`` keeps each tensor's own)."""
    try:
        import gguf
        import numpy as np
        from gguf.quants import dequantize, quantize
    except ImportError as exc:
        raise ModelError(
            f"merging an adapter needs the gguf package ({exc.name} is missing): pip install gguf",
            category="setup",
        ) from exc

    reader = gguf.GGUFReader(base)
    lora = gguf.GGUFReader(adapter)
    alpha_field = lora.fields.get("adapter.lora.alpha")
    if alpha_field is None:
        raise ModelError(
            f"{adapter} is not a llama.cpp LoRA adapter (no adapter.lora.alpha)", category="setup"
        )
    pairs: dict[str, dict[str, Any]] = {}
    for t in lora.tensors:
        name, _, which = t.name.rpartition(".lora_")
        pairs.setdefault(name, {})[which] = np.asarray(t.data, dtype=np.float32)
    if not pairs or any(set(p) != {"a", "b"} for p in pairs.values()):
        raise ModelError(f"{adapter} holds no complete lora_a/lora_b pairs", category="setup")
    scale = float(alpha_field.contents()) / next(iter(pairs.values()))["a"].shape[0]

    target = None  # None: each tensor keeps its own type
    if qtype.upper() != "SAME":
        if qtype.upper() not in gguf.GGMLQuantizationType.__members__:
            raise ModelError(f"unknown tensor type {qtype!r}; use q8_0, f16, f32, same", category="setup")
        target = gguf.GGMLQuantizationType[qtype.upper()]
    # Two processes may merge the same adapter at once (two kernels starting): each writes its own
    # file, and the last rename wins with an identical result.
    partial = out.with_name(f"{out.name}.{os.getpid()}.{secrets.token_hex(4)}.partial")
    writer = gguf.GGUFWriter(partial, arch=str(reader.fields["general.architecture"].contents()))
    for field in reader.fields.values():
        if field.name == "general.architecture" or field.name.startswith("GGUF."):
            continue
        value_type = field.types[0]
        sub = field.types[-1] if value_type == gguf.GGUFValueType.ARRAY else None
        writer.add_key_value(field.name, field.contents(), value_type, sub_type=sub)

    missed = wanted = 0.0
    for t in reader.tensors:  # in memory until every tensor is ready: nothing half-written
        pair = pairs.pop(t.name, None)
        if pair is None:
            writer.add_tensor(t.name, t.data, raw_dtype=t.tensor_type)
            continue
        a, b = pair["a"], pair["b"]
        weight = dequantize(t.data, t.tensor_type).reshape(b.shape[0], a.shape[1])
        change = scale * (b @ a)
        kind = t.tensor_type if target is None else target
        data = quantize(weight + change, kind)
        written = dequantize(data, kind).reshape(weight.shape)
        missed += float(np.sum(np.square(written - weight - change)))
        wanted += float(np.sum(np.square(change)))
        writer.add_tensor(t.name, data, raw_dtype=kind)
    if pairs:
        raise ModelError(
            f"{adapter} adapts tensors {base.name} does not have: {sorted(pairs)[:3]}", category="setup"
        )
    out.parent.mkdir(parents=True, exist_ok=True)
    try:
        writer.write_header_to_file()
        writer.write_kv_data_to_file()
        writer.write_tensors_to_file()
        writer.close()
        partial.replace(out)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return math.sqrt(missed / wanted) if wanted else 0.0
