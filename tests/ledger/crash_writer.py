"""Appends to a ledger file as fast as it can, printing each committed index; killed by a test.

Usage: python crash_writer.py PATH
Prints "main N" after main's entry N is committed and "main/side N" for the fork's.
"""

from __future__ import annotations

import sys

from ipyagent.ledger import Ledger


def main(path: str) -> None:
    ledger = Ledger.open(path, "main")
    side = None
    n = 0
    while True:
        entry = ledger.append("user", f"message {n} " + "x" * (n % 50), time=float(n), arguments={"n": n})
        print(f"main {entry.index}", flush=True)
        if n == 10:
            side = ledger.fork("main/side")
        if side is not None and n % 3 == 0:
            fork_entry = side.append("assistant", f"side {n}", time=float(n))
            print(f"main/side {fork_entry.index}", flush=True)
        n += 1


if __name__ == "__main__":
    main(sys.argv[1])
