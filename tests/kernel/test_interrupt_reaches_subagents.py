"""%interrupt and the stop button cut off every agent that is talking, sub-agents in their own
cells included, not only the main agent."""

from __future__ import annotations

LONG = " ".join(f"w{i}" for i in range(400))


def test_interrupt_and_the_stop_button_reach_a_streaming_sub_agent(start_kernel, script) -> None:
    kernel = start_kernel(
        script(
            [
                {"agent": "first", "delay": 60.0, "text": LONG},
                {"agent": "second", "delay": 60.0, "text": LONG},
            ]
        )
    )
    child = kernel.view_of(kernel.execute("%%fork first\nTalk slowly"))
    kernel.wait_view(child, lambda text: "w2" in text)
    kernel.text("%interrupt")
    final = kernel.wait_view(child, lambda text: "■ interrupted" in text, timeout=20)
    assert "interrupted by %interrupt" in final
    assert "w399" not in final

    other = kernel.view_of(kernel.execute("%%fork second\nTalk slowly too"))
    kernel.wait_view(other, lambda text: "w2" in text)
    kernel.km.interrupt_kernel()  # what JupyterLab's stop button sends
    final = kernel.wait_view(other, lambda text: "■ interrupted" in text, timeout=20)
    assert "stopped with the Jupyter interrupt button" in final
    assert "w399" not in final
    ledger = kernel.text("%ledger second")
    assert "interruption" in ledger and "[interrupted]" in ledger
