"""``python -m ipyagent.kernel -f CONNECTION_FILE``: what the kernelspec runs."""

from __future__ import annotations

from ipykernel.kernelapp import IPKernelApp

from .kernel import IpyagentKernel

if __name__ == "__main__":
    IPKernelApp.launch_instance(kernel_class=IpyagentKernel)
