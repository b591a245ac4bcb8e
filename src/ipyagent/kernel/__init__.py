"""ipyagent in Jupyter: the kernel, the agent's own thread, live cell views and the notebook
session. Nothing here is imported by the core rooms.

    python -m ipyagent install [--user | --sys-prefix | --prefix PATH]
"""

from .kernelspec import DISPLAY_NAME, KERNEL_NAME, install

__all__ = ["DISPLAY_NAME", "KERNEL_NAME", "install"]
