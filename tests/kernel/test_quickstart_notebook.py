"""notebooks/01-quickstart.ipynb runs headless with nbclient on the ipyagent kernel and the local
model (no key, no network), and its outputs show a real answer."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import KernelManager
from nbclient import NotebookClient

from ipyagent.kernel.kernelspec import install
from support.local_model import needs_local_model

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOK = ROOT / "notebooks" / "01-quickstart.ipynb"


def text_of(cell: nbformat.NotebookNode) -> str:
    return "".join(
        out.get("text", "") or out.get("data", {}).get("text/plain", "") for out in cell.get("outputs", [])
    )


@pytest.mark.slow
@pytest.mark.timeout(600)
@needs_local_model
def test_the_quickstart_notebook_shows_a_real_answer(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    install(prefix=str(tmp_path / "prefix"))
    ksm = KernelSpecManager(kernel_dirs=[str(tmp_path / "prefix/share/jupyter/kernels")])
    for name in ("runtime", "ipython", "sessions"):
        (tmp_path / name).mkdir()
    monkeypatch.setenv("PYTHONPATH", f"{ROOT / 'src'}:{__import__('os').environ.get('PYTHONPATH', '')}")
    monkeypatch.setenv("IPYTHONDIR", str(tmp_path / "ipython"))
    monkeypatch.setenv("IPYAGENT_SESSION_DIR", str(tmp_path / "sessions"))
    monkeypatch.delenv("IPYAGENT_MODEL", raising=False)
    km = KernelManager(
        kernel_name="ipyagent", kernel_spec_manager=ksm, connection_file=str(tmp_path / "runtime/k.json")
    )
    nb = nbformat.read(NOTEBOOK, as_version=4)
    client = NotebookClient(nb, km=km, timeout=600, resources={"metadata": {"path": str(tmp_path)}})
    try:
        client.execute()
    finally:  # nbclient leaves a kernel it did not start running, with its channels open
        if client.kc is not None:
            client.kc.stop_channels()
        if km.has_kernel:
            km.shutdown_kernel(now=True)

    code = [c for c in nb.cells if c.cell_type == "code"]
    answer = text_of(code[0])
    # The live view of the first cell was brought up to date while the --wait cell ran.
    assert answer.rstrip().endswith("main: idle"), answer
    assert "Paris" in answer, answer
    ledger = text_of(code[2])
    assert "user         What is the capital of France?" in ledger
    assert "assistant" in ledger and "Paris" in ledger
    assert "word_count" in text_of(code[4]) and "notebook" in text_of(code[4])
    assert "main" in text_of(code[5]) and "idle" in text_of(code[5])
