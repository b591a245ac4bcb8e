"""Real OS accounts for a classroom's students: created with ``useradd``, removed with
``userdel``. Each account's home is private (mode 700), so one student's notebooks and ledgers
are unreadable to the others. Needs root."""

from __future__ import annotations

import os
import pwd
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from ..errors import IpyagentError

# What useradd accepts on Debian by default, and what JupyterHub keeps as it is (lower case).
_NAME = re.compile(r"^[a-z][a-z0-9_-]{0,30}$")


class AccountError(IpyagentError):
    """Raised when an account cannot be created or removed; says what to do."""


@dataclass(frozen=True, slots=True)
class Account:
    name: str
    uid: int
    home: Path


def can_manage_accounts() -> str | None:
    """None when this process can create accounts, else the reason it cannot."""
    if os.geteuid() != 0:
        return "creating the students' accounts needs root (useradd); run it as root"
    for program in ("useradd", "userdel"):
        if shutil.which(program) is None and not Path(f"/usr/sbin/{program}").exists():
            return f"{program} is not installed (Debian: apt-get install passwd)"
    return None


def _program(name: str) -> str:
    return shutil.which(name) or f"/usr/sbin/{name}"


def create_account(name: str) -> Account:
    """A new account ``name`` with a private home and its own group."""
    if not _NAME.match(name):
        raise AccountError(f"{name!r} is not a valid account name: lower-case letters, digits, '-' or '_'")
    try:
        pwd.getpwnam(name)
    except KeyError:
        pass
    else:
        raise AccountError(f"the account {name!r} already exists; pick another name or remove it")
    done = subprocess.run(
        [
            _program("useradd"),
            "--create-home",
            "--user-group",
            "--shell",
            "/bin/bash",
            "-K",
            "HOME_MODE=0700",
            name,
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise AccountError(f"useradd {name} failed: {done.stderr.strip() or done.returncode}")
    entry = pwd.getpwnam(name)
    home = Path(entry.pw_dir)
    home.chmod(0o700)
    return Account(name, entry.pw_uid, home)


def remove_account(account: Account) -> None:
    """Remove the account, its group and its home. Its processes must have ended."""
    done = subprocess.run(
        [_program("userdel"), "--remove", account.name], capture_output=True, text=True, check=False
    )
    # userdel warns (exit 12) when the mail spool it would remove does not exist.
    if done.returncode not in (0, 12):
        raise AccountError(f"userdel {account.name} failed: {done.stderr.strip() or done.returncode}")
    if account.home.exists():
        shutil.rmtree(account.home, ignore_errors=True)


def processes_of(accounts: list[Account]) -> list[int]:
    """The ids of the processes running as any of ``accounts``."""
    import psutil

    uids = {a.uid for a in accounts}
    found = []
    for process in psutil.process_iter(["uids"]):
        uids_of = process.info.get("uids")
        if uids_of is not None and uids_of.real in uids:
            found.append(process.pid)
    return found
