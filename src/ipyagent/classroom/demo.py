"""``python -m ipyagent classroom``: a demo classroom on this machine.

It creates the students' accounts, starts the shared llama.cpp server with the embedded model and
JupyterHub in front of it, starts every student's server, and prints where to log in. Ctrl-C
stops it all and removes the accounts with their files. Needs root (for the accounts).
"""

from __future__ import annotations

import argparse
import secrets
import shutil
import signal
import sys
import tempfile
import threading
from collections.abc import Sequence
from pathlib import Path

from . import Classroom, missing_programs
from .accounts import AccountError
from .hub import HubError
from .model_server import ModelServerError


def parse(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The demo's options; a password may begin with "-", as one in eight of
    ``secrets.token_urlsafe``'s do (argparse alone would take it for an option)."""
    args = list(sys.argv[1:] if argv is None else argv)
    if "--password" in args[:-1]:
        at = args.index("--password")
        args[at : at + 2] = [f"--password={args[at + 1]}"]
    parser = argparse.ArgumentParser(
        prog="python -m ipyagent classroom",
        description="start a demo classroom: JupyterHub, one shared model server, real student accounts",
    )
    parser.add_argument("--users", type=int, default=3, help="how many students (default: 3)")
    parser.add_argument(
        "--prefix", default="student", help="account names: PREFIX1, PREFIX2, ... (default: student)"
    )
    parser.add_argument("--password", help="the students' shared password (default: a random one)")
    parser.add_argument("--model-calls", type=int, default=2, help="model calls one student may have at once")
    options = parser.parse_args(args)
    if options.users < 1:
        parser.error("--users must be at least 1")
    return options


def main(argv: Sequence[str] | None = None) -> int:
    args = parse(argv)
    reason = missing_programs()
    if reason:
        print(f"python -m ipyagent classroom: {reason}", file=sys.stderr)
        return 1
    users = [f"{args.prefix}{i}" for i in range(1, args.users + 1)]
    password = args.password or secrets.token_urlsafe(9)
    root = Path(tempfile.mkdtemp(prefix="ipyagent-classroom-"))
    root.chmod(0o755)  # the students' accounts run the Python that may be made in it
    room = Classroom(users, root=root, password=password, model_calls=args.model_calls)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    try:
        print("starting: accounts, the model server, the hub ...", flush=True)
        room.start()
        seconds = room.hub.start_servers(users)
    except (AccountError, HubError, ModelServerError) as exc:
        print(f"python -m ipyagent classroom: {exc}", file=sys.stderr)
        room.close()
        shutil.rmtree(root, ignore_errors=True)
        return 1
    print(
        f"""
The classroom is ready ({len(users)} servers started in {seconds:.1f} s).

  Log in at     {room.hub.url}/hub/login
  as            {", ".join(users)}
  password      {password}

Every student's notebooks start on the ipyagent kernel, and %agent answers from one shared
model server: {room.model_server.url} (its queue: http://127.0.0.1:{room.model_server.port}/queue).
Logs: {root}/hub.log, {root}/model-server.log

Press Ctrl-C to stop: it stops the hub and the model server and removes the accounts
{", ".join(users)} with their home folders.""",
        flush=True,
    )
    stop.wait()
    print("stopping ...", flush=True)
    room.close()
    shutil.rmtree(root, ignore_errors=True)
    print("stopped; the accounts are removed.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
