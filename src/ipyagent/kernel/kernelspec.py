"""Installing the "ipyagent" kernelspec."""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

KERNEL_NAME = "ipyagent"
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
    """Install the kernelspec; returns the directory it went to: under ``prefix`` if given, else
    the user's Jupyter data dir (``user=True``) or the system-wide one."""
    from jupyter_client.kernelspec import KernelSpecManager

    with tempfile.TemporaryDirectory() as tmp:
        # The folder is copied with its mode: a temporary directory's 700 would hide a shared
        # (--sys-prefix, system-wide) kernelspec from every other account.
        Path(tmp).chmod(0o755)
        (Path(tmp) / "kernel.json").write_text(json.dumps(kernel_json(python), indent=1) + "\n")
        logo = _logo_dir()
        if logo is not None:
            for f in logo.glob("logo-*.png"):
                (Path(tmp) / f.name).write_bytes(f.read_bytes())
        return str(
            KernelSpecManager().install_kernel_spec(tmp, name, user=user and prefix is None, prefix=prefix)
        )


def _logo_dir() -> Path | None:
    try:
        import ipykernel

        path = Path(ipykernel.__file__).parent / "resources"
    except ImportError:
        return None
    return path if path.is_dir() else None
