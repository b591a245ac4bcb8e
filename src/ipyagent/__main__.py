"""``python -m ipyagent SUBCOMMAND``. ``eval`` scores a model on asynchronous scenarios; the other
subcommands arrive with the kernel."""

from __future__ import annotations

import sys
from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args and args[0] == "eval":
        from .eval.cli import main as eval_main

        return eval_main(args[1:])
    print(
        "usage: python -m ipyagent eval [--help]  (other subcommands arrive with the kernel)", file=sys.stderr
    )
    return 2


if __name__ == "__main__":
    sys.exit(main())
