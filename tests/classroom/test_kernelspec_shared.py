"""A kernelspec installed for everyone (--sys-prefix, --prefix, system-wide) can be seen by every
account: on a JupyterHub each student's server looks for the ipyagent kernel there."""

from __future__ import annotations

import stat
from pathlib import Path

from ipyagent.kernel.kernelspec import install


def test_a_shared_kernelspec_is_readable_by_every_account(tmp_path: Path) -> None:
    where = Path(install(prefix=str(tmp_path)))
    mode = stat.S_IMODE(where.stat().st_mode)
    assert mode & 0o005 == 0o005, f"{where} is {oct(mode)}: other accounts cannot list it"
    for file in where.iterdir():
        assert stat.S_IMODE(file.stat().st_mode) & 0o004, f"{file} is not readable by others"
