"""Durability of the real kernel: the ipyagent kernel, working on a notebook session (streaming
answers, running tools, forking sub-agents, its ledger in the session's SQLite file), is
SIGKILLed at random points, again and again. After each kill the file is whole, every entry seen
committed is in it unchanged, no ledger has a gap, and a new kernel resumes the session with
``%agent --resume`` and carries on in the same file.

One kernel start per kill: each new kernel resumes, answers a new message, goes back to work and
is the next one killed. (Each kernel is started while its predecessor works, to save time; it
touches the session only when its turn comes.) Kill points are chosen by counting the entries
committed in the file, read from this process through a read-only connection, not by waiting.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import random
import signal
import sqlite3
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from jupyter_client.blocking import BlockingKernelClient
from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import KernelManager

from support.kernel_dirs import kernel_env, kernelspecs, make_kernel_dirs

KILLS = int(os.environ.get("IPYAGENT_KERNEL_KILLS", "50"))  # more for a longer run
ROUNDS = 100  # more rounds than one kernel lives through

TOOLS_CELL = """
import asyncio
from ipyagent import tool

@tool
async def lookup(query: str, seconds: float) -> str:
    "Look something up (takes a moment)."
    await asyncio.sleep(seconds)
    return f"found {query}"

@tool
def broken(query: str) -> str:
    "Always fails."
    raise RuntimeError(f"cannot {query}")
"""

WORK_CELL = f"""
for n in range({ROUNDS}):
    get_ipython().run_line_magic("agent", f"round {{n}}")
    get_ipython().run_line_magic("agent", "--wait --timeout 60")
"""


def script(life: int, rng: random.Random) -> list[dict[str, Any]]:
    """The model of kernel number ``life``: first the answer to "are you there?", then rounds of
    three kinds in random order: a long streamed answer; a slow tool and a failing one; a forked
    helper that streams and calls a tool of its own."""
    turns: list[dict[str, Any]] = [{"agent": "main", "delay": 0.05, "text": f"Back again ({life})."}]
    for n in range(ROUNDS):
        kind = rng.choice(["talk", "tools", "fork"])
        said = f"Round {n}: " + "here is a long and careful answer, word by word. " * 4
        if kind == "talk":
            turns.append({"agent": "main", "delay": rng.uniform(0.1, 0.3), "text": said})
            continue
        if kind == "tools":
            calls = [
                {"name": "lookup", "arguments": {"query": f"q{n}", "seconds": rng.uniform(0.1, 0.3)}},
                {"name": "broken", "arguments": {"query": f"q{n}"}},
            ]
        else:
            child = f"k{life}h{n}"
            calls = [{"name": "fork", "arguments": {"name": child, "task": f"check {n}"}}]
            turns += [
                {
                    "agent": child,
                    "delay": 0.08,
                    "text": "On it, checking that now for you.",
                    "tool_calls": [{"name": "lookup", "arguments": {"query": f"c{n}", "seconds": 0.1}}],
                },
                {"agent": child, "delay": 0.08, "text": f"Checked {n}, and all of it is fine."},
            ]
        turns.append({"agent": "main", "delay": rng.uniform(0.03, 0.1), "text": said, "tool_calls": calls})
        # One answer per notification (a result, an error, a helper's report); when notifications
        # come together, one answer covers them and the next round starts with a spare one.
        turns += [{"agent": "main", "delay": 0.05, "text": f"Noted ({n}), thanks."} for _ in calls]
    return turns


# --- the session file, read from outside ---------------------------------------------------------

Key = tuple[str, int]  # (ledger name, entry index)


def read_only(path: Path) -> sqlite3.Connection:
    return sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True, timeout=5)


def committed(path: Path) -> dict[Key, str]:
    """Every committed entry, ``(ledger, index) -> body``."""
    with contextlib.closing(read_only(path)) as conn:
        rows = conn.execute(
            "SELECT l.name, e.idx, e.body FROM entries e JOIN ledgers l ON l.id = e.ledger_id"
        ).fetchall()
    return {(name, idx): body for name, idx, body in rows}


def fork_points(path: Path) -> dict[str, int]:
    with contextlib.closing(read_only(path)) as conn:
        return dict(conn.execute("SELECT name, fork_point FROM ledgers").fetchall())


def count(conn: sqlite3.Connection) -> int:
    return int(conn.execute("SELECT count(*) FROM entries").fetchone()[0])


def integrity_ok(path: Path) -> bool:
    """SQLite's full check, through an ordinary connection: it recovers the write-ahead log the
    killed kernel left, as the next kernel opening the file does."""
    with contextlib.closing(sqlite3.connect(path, timeout=5)) as conn:
        return bool(conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok")


def gaps(entries: dict[Key, str], starts: dict[str, int]) -> list[str]:
    """Ledgers whose own entries are not numbered on from their fork point without a hole."""
    indices: dict[str, list[int]] = defaultdict(list)
    for name, idx in entries:
        indices[name].append(idx)
    return [
        name
        for name, found in indices.items()
        if sorted(found) != list(range(starts[name], starts[name] + len(found)))
    ]


def ledger_of(entries: dict[Key, str], name: str, start: int = 0) -> list[dict[str, Any]]:
    """The entries of one ledger from index ``start`` on, decoded."""
    return [json.loads(body) for (of, idx), body in sorted(entries.items()) if of == name and idx >= start]


def unfinished(own: list[dict[str, Any]]) -> dict[str, str]:
    """Tasks started in these entries that never ended: ``task id -> tool name``."""
    running: dict[str, str] = {}
    for e in own:
        if e["kind"] == "notification":
            running.pop(e.get("task_id", ""), None)
        elif e["kind"] == "tool_result" and e["status"] == "started":
            running[e["task_id"]] = e["name"]
    return running


def work_in_flight(entries: dict[Key, str], since: dict[Key, str]) -> set[str]:
    """What the kernel was doing when it died, from what it had committed since ``since``.

    ``streaming``: an agent's input (a message or a notification) is committed and its answer is
    not; ``tool``: a tool call was started and its result never came; ``fork``: a sub-agent was
    forked and had not reported back.
    """
    fresh: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for key, body in sorted(entries.items()):
        if key not in since:
            fresh[key[0]].append(json.loads(body))
    doing: set[str] = set()
    for own in fresh.values():
        doing |= {"fork" if tool == "fork" else "tool" for tool in unfinished(own).values()}
        said = [e["kind"] for e in own if e["kind"] in ("user", "notification", "assistant")]
        if said and said[-1] != "assistant":
            doing.add("streaming")
    return doing


def ids_used_twice(main: list[dict[str, Any]]) -> list[str]:
    """Task and call ids that name two different things in one conversation."""
    tasks = Counter(e["task_id"] for e in main if e["kind"] == "tool_result" and e.get("task_id"))
    calls = Counter(e["call_id"] for e in main if e["kind"] == "tool_call")
    return [i for i, n in (tasks + calls).items() if n > 1]


# --- kernels -------------------------------------------------------------------------------------


@dataclass
class Kernel:
    km: KernelManager
    kc: BlockingKernelClient

    def run(self, code: str, timeout: float = 60) -> str:
        """Execute ``code``; what it printed. Fails with what the kernel showed on an error."""
        msg_id = self.kc.execute(code, store_history=False)
        out: list[str] = []
        deadline = time.monotonic() + timeout
        while True:
            try:
                msg = self.kc.get_iopub_msg(timeout=max(0.01, deadline - time.monotonic()))
            except queue.Empty:
                raise AssertionError(f"the kernel did not finish {code[:40]!r} within {timeout} s") from None
            if msg["parent_header"].get("msg_id") != msg_id:
                continue
            if msg["msg_type"] == "stream":
                out.append(msg["content"]["text"])
            elif msg["msg_type"] == "error":
                out.append("\n".join(msg["content"]["traceback"]))
            elif msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
                break
        reply = self.kc.get_shell_msg(timeout=timeout)
        while reply["parent_header"].get("msg_id") != msg_id:  # kernel_info replies of the start
            reply = self.kc.get_shell_msg(timeout=timeout)
        text = "".join(out)
        assert reply["content"]["status"] == "ok", text or reply["content"]
        return text

    def sigkill(self) -> None:
        provisioner: Any = self.km.provisioner
        os.kill(provisioner.pid, signal.SIGKILL)
        provisioner.process.wait(timeout=30)

    def close(self) -> None:
        self.kc.stop_channels()
        if self.km.has_kernel:
            self.km.shutdown_kernel(now=True)
        self.km.cleanup_resources()


def starter(dirs: dict[str, Path]) -> Callable[[int, str], Kernel]:
    ksm = KernelSpecManager(kernel_dirs=[kernelspecs(dirs)])

    def start(life: int, model: str) -> Kernel:
        # Unix sockets, not TCP ports: two kernels start at once here, and others run beside us.
        km = KernelManager(
            kernel_name="ipyagent",
            kernel_spec_manager=ksm,
            connection_file=str(dirs["runtime"] / f"kernel-{life}.json"),
            transport="ipc",
            ip=str(dirs["runtime"] / f"kernel-{life}"),
        )
        km.start_kernel(env=kernel_env(dirs, "durable.ipynb", IPYAGENT_MODEL=model), cwd=str(dirs["work"]))
        kernel = Kernel(km, km.client())
        kernel.kc.start_channels()
        return kernel

    return start


def wait_for_count(conn: sqlite3.Connection, target: int, timeout: float) -> None:
    """Return once ``target`` entries are committed; the kill point is a count, not a time."""
    deadline = time.monotonic() + timeout
    while count(conn) < target:
        if time.monotonic() > deadline:
            raise AssertionError(f"the kernel did not commit {target} entries within {timeout} s")
        time.sleep(0.003)  # the poll interval


# --- the test ------------------------------------------------------------------------------------


@dataclass
class Tally:
    kills: int = 0
    checked: int = 0  # entries seen committed before a kill, each checked after it
    lost: int = 0
    corrupt: int = 0
    resumed: int = 0
    ended: int = 0  # tasks killed with a kernel, recorded as ended by the next one
    doing: Counter[str] = field(default_factory=Counter)  # kills with each kind of work in flight
    alone: Counter[str] = field(default_factory=Counter)  # ... exactly these kinds ("idle": none)
    seconds: list[float] = field(default_factory=list)  # per kill cycle


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_kernel_sigkilled_at_random_points_loses_nothing_and_resumes(tmp_path: Path) -> None:
    dirs = make_kernel_dirs(tmp_path)
    start = starter(dirs)
    rng = random.Random(8)
    tally = Tally()
    path: Path | None = None
    before: dict[Key, str] = {}  # what the file held when this kernel took over

    def model(life: int) -> str:
        file = tmp_path / f"script-{life}.json"
        file.write_text(json.dumps(script(life, rng)))
        return f"scripted:{file}"

    kernel = start(0, model(0))
    for life in range(KILLS + 1):
        began = time.monotonic()
        following: Kernel | None = None
        try:
            if life < KILLS:  # the next kernel boots while this one works
                following = start(life + 1, model(life + 1))
            kernel.kc.wait_for_ready(timeout=60)
            kernel.run(TOOLS_CELL)
            main_length = sum(1 for name, _ in before if name == "main")
            died = unfinished(ledger_of(before, "main"))  # the main agent's tasks killed with it
            if path is not None:
                # A new kernel brings the session back, whole, and carries on after it.
                shown = kernel.run("%agent --resume")
                assert shown.startswith(f"resumed {main_length} entries from {path}"), shown[:300]
            kernel.run(f"%agent --wait --timeout 30 are you there ({life})?")
            files = list(dirs["sessions"].glob("*/*.sqlite"))
            assert len(files) == 1, files  # every kernel goes on in the same file
            path = files[0]
            now = committed(path)
            assert {k: now[k] for k in before} == before, "the resumed kernel changed old entries"
            # After the old entries: what died with the last kernel, then the new exchange.
            new = ledger_of(now, "main", main_length)
            ended = [(e["source"], e["task_id"]) for e in new[: len(died)]]
            assert ended == [("tool_cancelled", task) for task in died], new[: len(died) + 1]
            asked = new[len(died)] if life else next(e for e in new if e["kind"] == "user")
            assert (asked["kind"], asked["text"]) == ("user", f"are you there ({life})?"), new[:3]
            assert (new[-1]["kind"], new[-1]["text"]) == ("assistant", f"Back again ({life})."), new[-1]
            assert ids_used_twice(ledger_of(now, "main")) == []
            tally.resumed += life > 0
            tally.ended += len(died)
            if life == KILLS:
                break

            # Work, and die once a random number of entries more is committed.
            with contextlib.closing(read_only(path)) as conn:
                before = now
                target = count(conn) + rng.randint(1, 25)
                kernel.kc.execute(WORK_CELL, store_history=False)
                wait_for_count(conn, target, 60)
            seen = committed(path)
            kernel.sigkill()
            tally.kills += 1
        except BaseException:
            if following is not None:
                following.close()
            raise
        finally:
            kernel.close()
        assert following is not None
        kernel = following

        # The file after the kill: whole, every entry seen before it still there, no gap.
        if not integrity_ok(path):
            tally.corrupt += 1
            kernel.close()
            break
        after = committed(path)
        tally.checked += len(seen)
        tally.lost += sum(1 for key, body in seen.items() if after.get(key) != body)
        assert gaps(after, fork_points(path)) == []
        doing = work_in_flight(after, before)
        tally.doing.update(doing)
        tally.alone["+".join(sorted(doing)) or "idle"] += 1
        before = after
        tally.seconds.append(time.monotonic() - began)

    cycle = sorted(tally.seconds)
    print(
        f"\n{tally.kills} kernel kills, {tally.checked} committed entries checked ({len(before)} "
        f"distinct, in {len({name for name, _ in before})} ledgers): {tally.lost} lost, "
        f"{tally.corrupt} corrupt files; {tally.resumed} resumes carried on, {tally.ended} tasks "
        f"that died with a kernel recorded as ended. Work in flight at the kills: {dict(tally.doing)}; "
        f"exactly: {dict(tally.alone)}. Kill cycle: median {cycle[len(cycle) // 2]:.2f} s, "
        f"max {cycle[-1]:.2f} s"
    )
    assert tally.corrupt == 0
    assert tally.lost == 0
    assert tally.resumed == KILLS
    # The kills landed in every kind of work, not always at the same moment.
    for kind in ("streaming", "tool", "fork"):
        assert tally.doing[kind] >= max(1, KILLS // 10), tally.doing
