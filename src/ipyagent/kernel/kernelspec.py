"""Installing the "ipyagent" kernelspec."""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
from pathlib import Path

KERNEL_NAME = "ipyagent"
LABEXTENSION_NAME = "ipyagent-lab"
RESOURCES = Path(__file__).parent / "resources"  # the kernel's logo (svg, 32 and 64 px)
LABEXTENSION = Path(__file__).parent.parent / "labextension"
DISPLAY_NAME = "Python 3 (ipyagent)"


def kernel_json(python: str | None = None) -> dict[str, object]:
    return {
        "argv": [python or sys.executable, "-m", "ipyagent.kernel", "-f", "{connection_file}"],
        "display_name": DISPLAY_NAME,
        "language": "python",
        "interrupt_mode": "message",
        "metadata": {"debugger": True},
    }


def install(
    *, user: bool = False, prefix: str | None = None, name: str = KERNEL_NAME, python: str | None = None
) -> str:
    """Install the kernelspec (with its own logo) and the JupyterLab extension that makes the
    buttons of the cell views work; returns the kernelspec's directory: under ``prefix`` if
    given, else the user's Jupyter data dir (``user=True``) or the system-wide one."""
    from jupyter_client.kernelspec import KernelSpecManager

    with tempfile.TemporaryDirectory() as tmp:
        # The folder is copied with its mode: a temporary directory's 700 would hide a shared
        # (--sys-prefix, system-wide) kernelspec from every other account.
        Path(tmp).chmod(0o755)
        (Path(tmp) / "kernel.json").write_text(json.dumps(kernel_json(python), indent=1) + "\n")
        for f in RESOURCES.glob("logo-*"):
            (Path(tmp) / f.name).write_bytes(f.read_bytes())
        where = KernelSpecManager().install_kernel_spec(
            tmp, name, user=user and prefix is None, prefix=prefix
        )
    # <data dir>/kernels/<name> -> <data dir>/labextensions/ipyagent-lab
    install_labextension(Path(where).parent.parent / "labextensions")
    return str(where)


def install_labextension(labextensions: Path) -> Path:
    """Copy the prebuilt JupyterLab extension into ``labextensions`` (replacing an older copy);
    JupyterLab loads it at its next start."""
    target = labextensions / LABEXTENSION_NAME
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(LABEXTENSION, target)
    return target
