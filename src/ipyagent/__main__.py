"""``python -m ipyagent COMMAND``: ``install`` registers the kernel; ``eval`` scores a model on
asynchronous scenarios (its own options: ``python -m ipyagent eval --help``); ``classroom``
starts a demo classroom on JupyterHub (``python -m ipyagent classroom --help``).

Each command is a function taking its parsed arguments, added in :func:`build_parser` with its
own sub-parser; add a command by adding a ``_cmd_NAME`` function and registering it there.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

Command = Callable[[argparse.Namespace], int]


def _cmd_install(args: argparse.Namespace) -> int:
    from .kernel.kernelspec import DISPLAY_NAME, install

    if args.sys_prefix:
        prefix: str | None = sys.prefix
    else:
        prefix = args.prefix
    # With no flag, the user's own kernelspecs: it needs no special rights.
    where = install(user=prefix is None, prefix=prefix, name=args.name)
    print(f"installed the kernelspec {args.name!r} ({DISPLAY_NAME}) in {where}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m ipyagent", description="ipyagent command line")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    install = commands.add_parser("install", help="register the Jupyter kernel 'ipyagent'")
    where = install.add_mutually_exclusive_group()
    where.add_argument("--user", action="store_true", help="for the current user (the default)")
    where.add_argument("--sys-prefix", action="store_true", help="in this Python environment (sys.prefix)")
    where.add_argument("--prefix", metavar="PATH", help="under PATH/share/jupyter/kernels")
    install.add_argument("--name", default="ipyagent", help="kernelspec name (default: ipyagent)")
    install.set_defaults(run=_cmd_install)
    # Parsed by the evaluation harness itself (see main); listed here for --help.
    commands.add_parser("eval", help="score a model on asynchronous scenarios", add_help=False)
    commands.add_parser(
        "classroom", help="start a demo classroom: JupyterHub and one shared model server", add_help=False
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["eval"]:
        from .eval.cli import main as eval_main

        return eval_main(argv[1:])
    if argv[:1] == ["classroom"]:
        from .classroom.demo import main as classroom_main

        return classroom_main(argv[1:])
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as stop:  # argparse has printed the usage (and what was wrong)
        return stop.code if isinstance(stop.code, int) else 2
    run: Command = args.run
    try:
        return run(args)
    except OSError as exc:
        print(f"python -m ipyagent {args.command}: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
