"""Where a test's real ipyagent kernels live: the kernelspec installed into a temporary prefix,
and empty runtime, IPython, session and working directories; and the environment that makes a
kernel run this checkout's sources inside them."""

from __future__ import annotations

import os
from pathlib import Path

from ipyagent.kernel.kernelspec import install

SRC = Path(__file__).resolve().parents[2] / "src"
NAMES = ("prefix", "runtime", "ipython", "sessions", "work")


def make_kernel_dirs(root: Path) -> dict[str, Path]:
    """The directories below ``root``, by name, with the kernelspec installed into "prefix"."""
    dirs = {name: root / name for name in NAMES}
    for d in dirs.values():
        d.mkdir()
    install(prefix=str(dirs["prefix"]))
    return dirs


def kernelspecs(dirs: dict[str, Path]) -> str:
    """The folder holding the installed "ipyagent" kernelspec."""
    return str(dirs["prefix"] / "share" / "jupyter" / "kernels")


def kernel_env(dirs: dict[str, Path], notebook: str, **extra: str) -> dict[str, str]:
    """This process's environment for a kernel of ``dirs``, as if it ran ``notebook``."""
    return {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")]),
        "JUPYTER_RUNTIME_DIR": str(dirs["runtime"]),
        "IPYTHONDIR": str(dirs["ipython"]),
        "IPYAGENT_SESSION_DIR": str(dirs["sessions"]),
        "JPY_SESSION_NAME": str(dirs["work"] / notebook),
        **extra,
    }
