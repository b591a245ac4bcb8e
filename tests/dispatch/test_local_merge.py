"""Merging a LoRA adapter into a model's GGUF (what ``local`` does with the adapter it ships, so
the fine-tuned model runs at full speed): the merged weights are the base plus the adapter's
change, everything else is copied, a broken adapter is a one-line error, and the backend falls
back to applying the adapter at run time when it cannot merge."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anyio
import pytest

gguf = pytest.importorskip("gguf")
np = pytest.importorskip("numpy")

from gguf.quants import dequantize, quantize  # noqa: E402

from ipyagent.dispatch.backends.base import StatusChunk  # noqa: E402
from ipyagent.dispatch.backends.local import LocalBackend  # noqa: E402
from ipyagent.dispatch.backends.local.merge import merge_adapter, merged_path  # noqa: E402
from ipyagent.errors import ModelError  # noqa: E402

Q8 = gguf.GGMLQuantizationType.Q8_0
Q4 = gguf.GGMLQuantizationType.Q4_1  # the embedded model's type
F32 = gguf.GGMLQuantizationType.F32
RNG = np.random.default_rng(19)
WEIGHT = RNG.normal(0, 0.05, (64, 32)).astype(np.float32)
NORM = RNG.normal(1, 0.1, 32).astype(np.float32)


def write_base(path: Path) -> Path:
    w = gguf.GGUFWriter(path, "llama")
    w.add_block_count(1)
    w.add_string("general.name", "tiny test model")
    w.add_tensor("blk.0.attn_v.weight", quantize(WEIGHT, Q4), raw_dtype=Q4)
    w.add_tensor("output_norm.weight", NORM)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return path


def write_adapter(path: Path, tensors: dict[str, Any], alpha: float | None = 8.0) -> Path:
    w = gguf.GGUFWriter(path, "llama")
    w.add_string("general.type", "adapter")
    if alpha is not None:
        w.add_float32("adapter.lora.alpha", alpha)
    for name, value in tensors.items():
        w.add_tensor(name, value.astype(np.float16))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return path


def lora(scale: float = 1.0) -> dict[str, Any]:
    return {
        "blk.0.attn_v.weight.lora_a": RNG.normal(0, 0.1 * scale, (4, 32)).astype(np.float32),
        "blk.0.attn_v.weight.lora_b": RNG.normal(0, 0.1 * scale, (64, 4)).astype(np.float32),
    }


def tensors(path: Path) -> dict[str, Any]:
    return {t.name: t for t in gguf.GGUFReader(path).tensors}


def test_the_merged_weight_is_the_base_plus_the_adapters_change(tmp_path: Path) -> None:
    base = write_base(tmp_path / "base.gguf")
    pair = lora()
    adapter = write_adapter(tmp_path / "a.gguf", pair)
    error = merge_adapter(base, adapter, tmp_path / "m.gguf", "F32")
    got = tensors(tmp_path / "m.gguf")
    a = pair["blk.0.attn_v.weight.lora_a"].astype(np.float16).astype(np.float32)
    b = pair["blk.0.attn_v.weight.lora_b"].astype(np.float16).astype(np.float32)
    want = dequantize(quantize(WEIGHT, Q4), Q4) + 8.0 / 4 * (b @ a)
    assert got["blk.0.attn_v.weight"].tensor_type == F32
    assert np.allclose(np.asarray(got["blk.0.attn_v.weight"].data).reshape(64, 32), want, atol=1e-6)
    assert error == pytest.approx(0.0, abs=1e-3)
    # The rest is copied as it was: tensors and metadata.
    assert np.array_equal(np.asarray(got["output_norm.weight"].data), NORM)
    fields = gguf.GGUFReader(tmp_path / "m.gguf").fields
    assert fields["general.name"].contents() == "tiny test model"
    assert fields["llama.block_count"].contents() == 1
    assert not list(tmp_path.glob("*.partial"))


def test_back_to_four_bits_a_small_change_is_lost_and_the_merge_says_so(tmp_path: Path) -> None:
    # The base weights sit on the 4-bit grid, so a change under half a step rounds back to them.
    base = write_base(tmp_path / "base.gguf")
    adapter = write_adapter(tmp_path / "a.gguf", lora(scale=0.2))
    q8 = merge_adapter(base, adapter, tmp_path / "q8.gguf", "q8_0")
    q4 = merge_adapter(base, adapter, tmp_path / "q4.gguf", "same")
    assert q8 < 0.3  # the error, relative to the adapter's change
    assert q4 > 0.9
    assert tensors(tmp_path / "q4.gguf")["blk.0.attn_v.weight"].tensor_type == Q4


@pytest.mark.parametrize(
    ("pair", "alpha", "error"),
    [
        ({"blk.0.attn_v.weight.lora_a": np.zeros((4, 32))}, 8.0, "no complete lora_a/lora_b pairs"),
        (lora(), None, "is not a llama.cpp LoRA adapter"),
        (
            {k.replace("blk.0", "blk.7"): v for k, v in lora().items()},
            8.0,
            r"adapts tensors base.gguf does not have: \['blk.7.attn_v.weight'\]",
        ),
    ],
)
def test_a_broken_adapter_is_a_one_line_error_and_leaves_no_file(
    tmp_path: Path, pair: dict[str, Any], alpha: float | None, error: str
) -> None:
    base = write_base(tmp_path / "base.gguf")
    adapter = write_adapter(tmp_path / "a.gguf", pair, alpha)
    with pytest.raises(ModelError, match=error) as caught:
        merge_adapter(base, adapter, tmp_path / "m.gguf")
    assert "\n" not in str(caught.value)
    assert not (tmp_path / "m.gguf").exists()
    assert not list(tmp_path.glob("*.partial"))


def test_an_unknown_tensor_type_is_a_one_line_error(tmp_path: Path) -> None:
    base = write_base(tmp_path / "base.gguf")
    adapter = write_adapter(tmp_path / "a.gguf", lora())
    with pytest.raises(ModelError, match=r"unknown tensor type 'q9'; use q8_0, f16, f32, same"):
        merge_adapter(base, adapter, tmp_path / "m.gguf", "q9")


async def merged(backend: LocalBackend, base: Path, adapter: Path) -> tuple[list[str], Path | None]:
    said, path = [], None
    async for item in backend._merged(base, adapter):
        if isinstance(item, StatusChunk):
            said.append(item.text)
        else:
            path = item
    return said, path


def test_the_backend_merges_once_into_the_cache_and_reuses_it(tmp_path: Path, monkeypatch: Any) -> None:
    monkeypatch.setenv("IPYAGENT_CACHE", str(tmp_path / "cache"))
    base = write_base(tmp_path / "base.gguf")
    adapter = write_adapter(tmp_path / "a.gguf", lora())
    backend = LocalBackend(base, adapter_path=adapter)
    said, path = anyio.run(merged, backend, base, adapter)
    assert path is not None and path.parent == tmp_path / "cache" and path.is_file()
    assert "merging a.gguf into the local model, once" in said[0]
    again, same = anyio.run(merged, backend, base, adapter)
    assert same == path and again == []  # made once
    # Another adapter is another file.
    other = write_adapter(tmp_path / "b.gguf", lora())
    assert merged_path(base, other) != path


def test_when_it_cannot_merge_the_backend_applies_the_adapter_at_run_time(
    tmp_path: Path, monkeypatch: Any
) -> None:
    monkeypatch.setenv("IPYAGENT_CACHE", str(tmp_path / "cache"))
    base = write_base(tmp_path / "base.gguf")
    adapter = write_adapter(tmp_path / "a.gguf", lora(), alpha=None)
    said, path = anyio.run(merged, LocalBackend(base, adapter_path=adapter), base, adapter)
    assert path is None
    assert said[-1].startswith("applying a.gguf at run time (slower): ")
    assert "not a llama.cpp LoRA adapter" in said[-1]
