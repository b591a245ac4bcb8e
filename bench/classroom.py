"""A classroom under load: simulated students on JupyterHub, one shared llama.cpp server.

Each simulated student is a real account with a real Jupyter server and an ipyagent kernel,
reached through the hub's proxy over the kernel's websocket (as JupyterLab does), sending a
``%agent`` question every ~20 s (uniformly 15-25 s, first one at a random point of the first
20 s). Per phase it measures, as the student sees them in the cell: the time to the first
visible words of the answer and to the end of the answer (p50/p95), the model server's queue
(requests held: one answered, the rest waiting) sampled every second, and memory per student
(PSS of their Jupyter server and kernel).

Phases, one classroom, run one after the other:
    10, 20, 40 students;
    10 students while an 11th floods (its notebook sends 20 `%agent` messages in a loop and starts
    50 forked sub-agents at once, and again whenever they are all done), with the classroom's
    limit on model calls per kernel, and with the flooder's kernel lifting it (as any student
    can, for their own kernel: the limit is a guard against runaway agents, not a quota); the
    model server lets the students take turns, and ``flood-arrival`` is the flood with the limit
    but answered in arrival order (no request names its student), as llama.cpp alone does.

    nice -n -5 .venv/bin/python bench/classroom.py \
        [--seconds 120] [--grace 120] [--phases 10,20,40,flood,flood-nolimit] [--flood-with 10]

A small dry run: ``--seconds 30 --phases 3,flood --flood-with 3``. Needs root (it creates the
accounts and removes them after). Results go to bench/results/classroom.json (``--out``) after every phase
(a stopped run keeps the phases it finished); the progress to stdout.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import json
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
RESULTS = Path(__file__).parent / "results"

from ipyagent.classroom import Classroom, missing_programs  # noqa: E402
from ipyagent.classroom.student import Exchange, Student  # noqa: E402

QUESTIONS = [
    "What is a Python list comprehension? One sentence.",
    "Why do we split data into training and test sets? Briefly.",
    "What does the pandas groupby method do? One sentence.",
    "What is the difference between a list and a tuple? Briefly.",
    "What is a p-value, in one sentence?",
    "How do I read a CSV file in Python? Briefly.",
]
MAX_STUDENTS = 40
FLOOD_FORKS = 50


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


async def student_loop(student: Student, until: float, grace: float, out: list[Exchange]) -> None:
    """Ask every ~20 s after the last answer until ``until``; wait up to ``grace`` after it for
    the last answer."""
    await asyncio.sleep(random.uniform(0, 20))
    while time.monotonic() < until:
        exchange = await student.agent(random.choice(QUESTIONS))
        out.append(exchange)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(exchange.done.wait(), max(1.0, until + grace - time.monotonic()))
        await asyncio.sleep(random.uniform(15, 25))


FLOOD_MESSAGES = 20
FLOOD_CELL = f"""
import time
for i in range({FLOOD_MESSAGES}):
    get_ipython().run_line_magic("agent", f"Tell me fact number {{i}} about computers, at length.")
for i in range({FLOOD_FORKS}):
    get_ipython().run_cell_magic(
        "fork", f"h{{int(time.time()*1000)}}-{{i}}", "Write a long essay on the history of computing."
    )
"""


async def flood_loop(student: Student, until: float, lift_limit: bool) -> int:
    """Send 20 messages and start 50 forks at once, wait for them all to finish, again; returns
    how many forks were started."""
    if lift_limit:
        await student.run("import os; os.environ['IPYAGENT_MODEL_CALLS'] = ''")
    await student.run("%agent --wait --timeout 1")  # nothing: the agent starts with the first fork
    started = 0
    while time.monotonic() < until:
        result = await student.run(FLOOD_CELL, seconds=120)
        if result.status != "ok":
            print(f"  flood cell failed: {result.text[:200]}", flush=True)
            break
        started += FLOOD_FORKS
        left = max(1, int(until - time.monotonic()))
        await student.run(f"%agent --wait --timeout {left}", seconds=900)
    return started


async def sample_queue(room: Classroom, until: float, out: list[int]) -> None:
    while time.monotonic() < until:
        with contextlib.suppress(OSError):
            out.append(await asyncio.to_thread(lambda: room.model_server.queue()["in_flight"]))
        await asyncio.sleep(1)


def memory_per_student(room: Classroom, users: list[str]) -> dict[str, float]:
    import psutil

    uids = {a.uid: a.name for a in room.accounts if a.name in users}
    server: dict[str, float] = {}
    kernel: dict[str, float] = {}
    for process in psutil.process_iter(["uids", "cmdline"]):
        try:
            owner = uids.get(process.info["uids"].real)
            if owner is None:
                continue
            pss = process.memory_full_info().pss / 2**20
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
        is_kernel = "ipyagent.kernel" in " ".join(process.info["cmdline"] or [])
        bucket = kernel if is_kernel else server
        bucket[owner] = bucket.get(owner, 0.0) + pss
    return {
        "server_mb": statistics.median(server.values()) if server else 0.0,
        "kernel_mb": statistics.median(kernel.values()) if kernel else 0.0,
        "per_student_mb": statistics.median(server.get(u, 0.0) + kernel.get(u, 0.0) for u in users),
    }


@functools.cache
def _tokenizer() -> Any:
    from llama_cpp import Llama

    from ipyagent.dispatch.backends.local import default_model_path

    return Llama(model_path=str(default_model_path()), vocab_only=True, verbose=False)


def tokens(text: str) -> int:
    """How many of the model's tokens an answer as shown in the cell takes."""
    return len(_tokenizer().tokenize(text.encode(), add_bos=False))


def summarize(name: str, exchanges: list[Exchange], queue: list[int], seconds: float) -> dict[str, Any]:
    answered = [e for e in exchanges if e.answered is not None and not e.failed]
    answer_tokens = [tokens(e.text) for e in answered]
    first = [e.first_words for e in answered if e.first_words is not None]
    end = [e.answered for e in answered if e.answered is not None]
    return {
        "phase": name,
        "messages": len(exchanges),
        "answered": len(answered),
        "failed": sum(1 for e in exchanges if e.failed),
        "unanswered": sum(1 for e in exchanges if e.answered is None),
        "first_words_p50": percentile(first, 50),
        "first_words_p95": percentile(first, 95),
        "answer_p50": percentile(end, 50),
        "answer_p95": percentile(end, 95),
        "queue_mean": statistics.fmean(queue) if queue else None,
        "queue_max": max(queue) if queue else None,
        "messages_per_minute": len(exchanges) / seconds * 60,
        "tokens_per_answer_mean": statistics.fmean(answer_tokens) if answer_tokens else None,
        "tokens_per_answer_p95": percentile([float(t) for t in answer_tokens], 95),
    }


async def phase(
    room: Classroom,
    name: str,
    users: list[str],
    seconds: float,
    grace: float,
    flooder: str | None = None,
    lift: bool = False,
    arrival_order: bool = False,
) -> dict[str, Any]:
    print(f"== {name}: {len(users)} students" + (f" + flooder {flooder}" if flooder else ""), flush=True)
    connecting = time.monotonic()
    students = await asyncio.gather(*(Student.connect(room.hub.url, u, room.admin_token) for u in users))
    kernels_ready = time.monotonic() - connecting
    print(f"   {len(users)} kernels started together, all connected in {kernels_ready:.1f} s", flush=True)
    flood_student = await Student.connect(room.hub.url, flooder, room.admin_token) if flooder else None
    if arrival_order:
        # Requests that do not name their student share one line at the server: arrival order,
        # as llama.cpp's server answers without the classroom's turns.
        for s in [*students, *([flood_student] if flood_student else [])]:
            await s.run("import os; os.environ['IPYAGENT_MODEL_USER'] = ''")
    exchanges: list[Exchange] = []
    queue: list[int] = []
    until = time.monotonic() + seconds
    jobs = [student_loop(s, until, grace, exchanges) for s in students]
    jobs.append(sample_queue(room, until + 30, queue))
    flood_job = (
        asyncio.get_running_loop().create_task(flood_loop(flood_student, until, lift))
        if flood_student
        else None
    )
    await asyncio.gather(*jobs)
    forks = 0
    if flood_job is not None:
        try:
            forks = await asyncio.wait_for(flood_job, 300)
        except TimeoutError:
            flood_job.cancel()
    memory = memory_per_student(room, users)
    memory["model_server_mb"] = model_server_memory(room)
    result = summarize(name, exchanges, queue, seconds) | {"students": len(users), "memory": memory}
    result["kernels_ready_seconds"] = kernels_ready
    result["load_average"] = os.getloadavg()
    if flooder:
        result["flood_forks_started"] = forks
        result["flooder_limit_lifted"] = lift
        result["arrival_order"] = arrival_order
    for s in [*students, *([flood_student] if flood_student else [])]:
        await s.close()
    print("   " + json.dumps(result), flush=True)
    return result


async def run(args: argparse.Namespace) -> None:
    phases = args.phases.split(",")
    flooding = any(p.startswith("flood") for p in phases)
    need = max([int(p) for p in phases if p.isdigit()] + [args.flood_with + 1 if flooding else 0])
    tag = uuid.uuid4().hex[:4]
    users = [f"ipb{tag}s{i}" for i in range(need)]
    root = classroom_root()
    results: dict[str, Any] = {
        "started": time.strftime("%Y-%m-%d %H:%M:%S"),
        "seconds": args.seconds,
        "load_average_before": os.getloadavg(),
        "command": " ".join(sys.argv),
        "out": str(args.out),
        "phases": [],
    }
    with Classroom(
        users, root=root, model_calls=args.model_calls, model_nice=0, model_max_tokens=args.max_tokens
    ) as room:
        took = room.hub.start_servers(users, timeout=900)
        results["servers_started_seconds"] = took
        results["servers"] = need
        print(f"{need} servers ready in {took:.1f} s", flush=True)
        for number, name in enumerate(phases):
            if name.isdigit():
                result = await phase(room, name, users[: int(name)], args.seconds, args.grace)
            else:
                others, flooder = users[: args.flood_with], users[args.flood_with]
                result = await phase(
                    room,
                    name,
                    others,
                    args.seconds,
                    args.grace,
                    flooder=flooder,
                    lift=(name == "flood-nolimit"),
                    arrival_order=(name == "flood-arrival"),
                )
            results["phases"].append(result)
            save(results)
            if number < len(phases) - 1:
                # Questions left from this phase would still hold the server in the next one.
                result["drain_seconds"] = await drain(room)
                save(results)
        results["load_average_after"] = os.getloadavg()
        results["stop_left"] = room.stop_hub()
    save(results)
    print_table(results)


async def drain(room: Classroom, longest: float = 300) -> float:
    """Wait until the model server holds no request (at most ``longest`` seconds); how long."""
    started = time.monotonic()
    while time.monotonic() - started < longest:
        counts = await asyncio.to_thread(room.model_server.queue)
        if counts["in_flight"] == 0:
            break
        await asyncio.sleep(2)
    return time.monotonic() - started


def model_server_memory(room: Classroom) -> float:
    import psutil

    process = room.model_server.process
    if process is None:
        return 0.0
    try:
        return float(psutil.Process(process.pid).memory_full_info().pss / 2**20)
    except psutil.NoSuchProcess:
        return 0.0


def classroom_root() -> Path:
    """A folder every student's account can reach (the students' Python may live there)."""
    root = Path(tempfile.mkdtemp(prefix="ipyagent-classroom-bench-"))
    root.chmod(0o755)
    return root


def save(results: dict[str, Any]) -> None:
    out = Path(results["out"])
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=1))


def print_table(results: dict[str, Any]) -> None:
    def f(v: Any) -> str:
        return "-" if v is None else f"{v:.1f}" if isinstance(v, float) else str(v)

    print(
        "\n| phase | students | messages (per min) | answered | first words p50 / p95 (s) "
        "| answer p50 / p95 (s) | tokens per answer | queue mean / max | MB per student | load |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in results["phases"]:
        print(
            f"| {r['phase']} | {r['students']} | {r['messages']} ({f(r['messages_per_minute'])}) "
            f"| {r['answered']} | {f(r['first_words_p50'])} / {f(r['first_words_p95'])} "
            f"| {f(r['answer_p50'])} / {f(r['answer_p95'])} | {f(r['tokens_per_answer_mean'])} "
            f"| {f(r['queue_mean'])} / {f(r['queue_max'])} "
            f"| {f(r['memory']['per_student_mb'])} | {f(r['load_average'][0])} |"
        )


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=120, help="length of each phase")
    parser.add_argument("--phases", default="10,20,40,flood,flood-nolimit")
    parser.add_argument(
        "--grace", type=float, default=120, help="how long after a phase its last answers are awaited"
    )
    parser.add_argument("--model-calls", type=int, default=2, help="the classroom's limit per kernel")
    parser.add_argument("--flood-with", type=int, default=10, help="students beside the flooder")
    parser.add_argument("--max-tokens", type=int, default=512, help="the model server's answer cap")
    parser.add_argument(
        "--out", type=Path, default=RESULTS / "classroom.json", help="the figures, saved after every phase"
    )
    args = parser.parse_args()
    reason = missing_programs()
    if reason:
        print(f"bench/classroom.py: {reason}", file=sys.stderr)
        return 1
    try:
        asyncio.run(run(args))
    finally:
        for root in Path(tempfile.gettempdir()).glob("ipyagent-classroom-bench-*"):
            shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
