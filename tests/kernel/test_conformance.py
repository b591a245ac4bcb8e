"""Jupyter protocol conformance of the installed "ipyagent" kernelspec (jupyter_kernel_test)."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, ClassVar

import jupyter_kernel_test
from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import KernelManager

from ipyagent.kernel.kernelspec import install

SRC = Path(__file__).resolve().parents[2] / "src"


class TestIpyagentKernelConformance(jupyter_kernel_test.KernelTests):
    kernel_name = "ipyagent"
    _tmp: str

    @classmethod
    def setUpClass(cls) -> None:
        cls._tmp = tempfile.mkdtemp(prefix="ipyagent-conformance-")
        tmp = Path(cls._tmp)
        install(prefix=str(tmp / "prefix"))
        ksm = KernelSpecManager(kernel_dirs=[str(tmp / "prefix/share/jupyter/kernels")])
        cls.km = KernelManager(
            kernel_name="ipyagent", kernel_spec_manager=ksm, connection_file=str(tmp / "kernel.json")
        )
        (tmp / "ipython").mkdir()
        env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")]),
            "IPYTHONDIR": str(tmp / "ipython"),
            "IPYAGENT_SESSION_DIR": str(tmp / "sessions"),
        }
        cls.km.start_kernel(env=env, cwd=cls._tmp)
        cls.kc = cls.km.client()
        cls.kc.start_channels()
        cls.kc.wait_for_ready(timeout=60)

    @classmethod
    def tearDownClass(cls) -> None:
        cls.kc.stop_channels()
        cls.km.shutdown_kernel(now=True)
        shutil.rmtree(cls._tmp, ignore_errors=True)

    language_name = "python"
    file_extension = ".py"
    code_hello_world = "print('hello, world')"
    completion_samples: ClassVar[list[dict[str, Any]]] = [{"text": "zi", "matches": {"zip"}}]
    complete_code_samples: ClassVar[list[str]] = [
        "1",
        "print('hello, world')",
        "def f(x):\n  return x*2\n\n\n",
    ]
    incomplete_code_samples: ClassVar[list[str]] = ["print('''hello", "def f(x):\n  x*2"]
    invalid_code_samples: ClassVar[list[str]] = ["import = 7q"]
    code_page_something = "zip?"
    code_generate_error = "raise ValueError('expected')"
    code_execute_result: ClassVar[list[dict[str, str]]] = [
        {"code": "1+2+3", "result": "6"},
        {"code": "[n*n for n in range(3)]", "result": "[0, 1, 4]"},
    ]
    code_display_data: ClassVar[list[dict[str, str]]] = [
        {
            "code": "from IPython.display import HTML, display; display(HTML('<b>test</b>'))",
            "mime": "text/html",
        },
        {
            "code": "from IPython.display import Math, display; display(Math('\\\\frac{1}{2}'))",
            "mime": "text/latex",
        },
    ]
    code_history_pattern = "1?2*"
    supported_history_operations = ("tail", "search")
    code_inspect_sample = "zip"
    code_clear_output = "from IPython.display import clear_output; clear_output()"

    def test_kernel_info_names_ipyagent(self) -> None:
        self.flush_channels()
        reply = self.kc.kernel_info(reply=True, timeout=15)
        assert reply["content"]["implementation"] == "ipyagent"
        assert reply["content"]["language_info"]["name"] == "python"

    def test_agent_magics_are_loaded(self) -> None:
        self.flush_channels()
        reply, output_msgs = self.execute_helper(code="%agent --help")
        assert reply["content"]["status"] == "ok"
        assert "%%fork NAME" in "".join(m["content"].get("text", "") for m in output_msgs)
