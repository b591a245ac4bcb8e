"""Real ipyagent kernels for tests (fixtures ``start_kernel``, ``kernel_dirs``, ``script``, loaded
for every test by the root conftest): the kernelspec installed into a temporary prefix, a temporary
runtime/IPython/session directory, bounded waits, and shutdown in the fixture."""

from __future__ import annotations

import json
import queue
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from jupyter_client.blocking import BlockingKernelClient
from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import KernelManager

from .kernel_dirs import kernel_env, kernelspecs, make_kernel_dirs

Msg = dict[str, Any]


class Kernel:
    """A started kernel and a client that keeps every IOPub message it has read."""

    def __init__(self, km: KernelManager) -> None:
        self.km = km
        self.kc: BlockingKernelClient = km.client()
        self.kc.start_channels()
        self.kc.wait_for_ready(timeout=60)
        self.messages: list[Msg] = []
        self.arrival: list[float] = []  # monotonic time each message was read

    # --- IOPub ------------------------------------------------------------------------------

    def _read(self, timeout: float) -> Msg | None:
        try:
            msg: Msg = self.kc.get_iopub_msg(timeout=timeout)
        except queue.Empty:
            return None
        self.messages.append(msg)
        self.arrival.append(time.monotonic())
        return msg

    def wait_for(self, predicate: Callable[[Msg], bool], timeout: float = 30, what: str = "") -> Msg:
        """Read IOPub until a message (already read or new) satisfies ``predicate``."""
        for msg in self.messages:
            if predicate(msg):
                return msg
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            msg = self._read(min(0.5, max(0.01, deadline - time.monotonic())))
            if msg is not None and predicate(msg):
                return msg
        raise AssertionError(f"no IOPub message {what or predicate} within {timeout} s")

    def drain(self, seconds: float = 0.0) -> None:
        while self._read(seconds) is not None:
            pass

    # --- executing --------------------------------------------------------------------------

    def execute(self, code: str, stop_on_error: bool = True) -> str:
        """Send ``code``; its msg_id. With ``stop_on_error`` (Jupyter's default) an error aborts
        the requests that arrive just after it."""
        return str(self.kc.execute(code, store_history=True, allow_stdin=False, stop_on_error=stop_on_error))

    def reply(self, msg_id: str, timeout: float = 30) -> Msg:
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no execute_reply for {msg_id} within {timeout} s")
            msg: Msg = self.kc.get_shell_msg(timeout=left)
            if msg["parent_header"].get("msg_id") == msg_id:
                return msg

    def idle(self, msg_id: str, timeout: float = 30) -> Msg:
        return self.wait_for(
            lambda m: (
                m["parent_header"].get("msg_id") == msg_id
                and m["msg_type"] == "status"
                and m["content"]["execution_state"] == "idle"
            ),
            timeout,
            f"idle after {msg_id}",
        )

    def run(self, code: str, timeout: float = 30) -> tuple[Msg, list[Msg]]:
        """Execute and wait for the reply and idle; returns the reply and the cell's outputs."""
        msg_id = self.execute(code)
        reply = self.reply(msg_id, timeout)
        self.idle(msg_id, timeout)
        return reply, self.outputs(msg_id)

    def outputs(self, msg_id: str) -> list[Msg]:
        """What the cell shows. An update of another cell's live view can carry this cell's
        header (it is sent while this cell runs) but is drawn in that other cell: left out."""
        kinds = {"stream", "display_data", "execute_result", "error", "update_display_data"}
        mine = [
            m for m in self.messages if m["parent_header"].get("msg_id") == msg_id and m["msg_type"] in kinds
        ]
        own_views = {self.display_id(m) for m in mine if m["msg_type"] == "display_data"}
        return [m for m in mine if m["msg_type"] != "update_display_data" or self.display_id(m) in own_views]

    def text(self, code: str, timeout: float = 30) -> str:
        """Run ``code``; its stdout and results as text; fails on an error reply."""
        reply, outs = self.run(code, timeout)
        assert reply["content"]["status"] == "ok", reply["content"]
        return "".join(
            m["content"].get("text", "") or m["content"].get("data", {}).get("text/plain", "") for m in outs
        )

    def error(self, code: str) -> tuple[str, str]:
        """Run ``code`` that must fail; ``(ename, what the user sees)``."""
        reply, outs = self.run(code)
        assert reply["content"]["status"] == "error", reply["content"]
        shown = "".join(
            m["content"].get("text", "") + "\n".join(m["content"].get("traceback", []))
            for m in outs
            if m["msg_type"] in ("stream", "error")
        )
        return str(reply["content"]["ename"]), shown

    # --- live views -------------------------------------------------------------------------

    @staticmethod
    def display_id(msg: Msg) -> str | None:
        transient = msg["content"].get("transient") or {}
        return transient.get("display_id")

    def view_of(self, msg_id: str) -> str:
        """The display id of the live view a cell created (waits for the cell to finish)."""
        self.idle(msg_id)
        for m in self.outputs(msg_id):
            if m["msg_type"] == "display_data" and self.display_id(m):
                return str(self.display_id(m))
        raise AssertionError(f"cell {msg_id} shows no live view: {self.outputs(msg_id)}")

    def view_text(self, display_id: str) -> str:
        """What the view shows now (the last display or update with that id)."""
        shown = ""
        for m in self.messages:
            if m["msg_type"] in ("display_data", "update_display_data") and self.display_id(m) == display_id:
                shown = m["content"]["data"]["text/plain"]
        return shown

    def wait_view(self, display_id: str, predicate: Callable[[str], bool], timeout: float = 30) -> str:
        def ok(m: Msg) -> bool:
            return (
                m["msg_type"] in ("display_data", "update_display_data")
                and self.display_id(m) == display_id
                and predicate(m["content"]["data"]["text/plain"])
            )

        try:
            msg = self.wait_for(ok, timeout, f"view {display_id} matching")
        except AssertionError:
            raise AssertionError(f"the view never matched; it shows:\n{self.view_text(display_id)}") from None
        return str(msg["content"]["data"]["text/plain"])

    def updates(self, display_id: str) -> list[int]:
        """Indices (in ``messages``) of the updates of a view."""
        return [
            i
            for i, m in enumerate(self.messages)
            if m["msg_type"] == "update_display_data" and self.display_id(m) == display_id
        ]

    def shutdown(self) -> None:
        self.kc.stop_channels()
        if self.km.has_kernel:
            self.km.shutdown_kernel(now=True)


@pytest.fixture
def script(tmp_path: Path) -> Callable[[list[dict[str, Any]]], str]:
    """``script(turns)``: write a scripted-model file; returns its model string."""
    count = iter(range(1000))

    def write(turns: list[dict[str, Any]]) -> str:
        path = tmp_path / f"script-{next(count)}.json"
        path.write_text(json.dumps(turns))
        return f"scripted:{path}"

    return write


@pytest.fixture
def kernel_dirs(tmp_path: Path) -> dict[str, Path]:
    """A prefix holding the installed kernelspec, and empty runtime/IPython/session dirs."""
    return make_kernel_dirs(tmp_path)


@pytest.fixture
def start_kernel(kernel_dirs: dict[str, Path]) -> Iterator[Callable[..., Kernel]]:
    """``start_kernel(model=..., name="ipyagent")``: a running kernel, shut down after the test."""
    started: list[Kernel] = []
    files: list[Any] = []

    def start(
        model: str | None = None, name: str = "ipyagent", output: Path | None = None, **env: str
    ) -> Kernel:
        """``output``: a file that receives the kernel process's own stdout and stderr."""
        ksm = KernelSpecManager(kernel_dirs=[kernelspecs(kernel_dirs)])
        if name == "python3":
            ksm = KernelSpecManager()
        km = KernelManager(
            kernel_name=name,
            kernel_spec_manager=ksm,
            connection_file=str(kernel_dirs["runtime"] / f"kernel-{len(started)}.json"),
        )
        km.cache_ports = False
        environ = kernel_env(kernel_dirs, "test.ipynb", **env)
        if model is not None:
            environ["IPYAGENT_MODEL"] = model
        streams: dict[str, Any] = {}
        if output is not None:
            streams["stdout"] = streams["stderr"] = opened = output.open("wb")
            files.append(opened)
        km.start_kernel(env=environ, cwd=str(kernel_dirs["work"]), **streams)
        kernel = Kernel(km)
        started.append(kernel)
        return kernel

    yield start
    for kernel in started:
        kernel.shutdown()
    for file in files:
        file.close()
