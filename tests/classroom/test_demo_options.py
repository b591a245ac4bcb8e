"""The demo classroom's options: a shared password that begins with "-" (one in eight random ones
does) is a password, not an unknown option."""

from __future__ import annotations

import pytest

from ipyagent.classroom.demo import parse


@pytest.mark.parametrize("password", ["-x9Qm", "--not-an-option", "plain"])
def test_a_password_may_begin_with_a_dash(password: str) -> None:
    args = parse(["--users", "2", "--password", password, "--prefix", "kid"])
    assert (args.password, args.users, args.prefix) == (password, 2, "kid")


def test_options_are_checked_as_before(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        parse(["--users", "0"])
    assert "--users must be at least 1" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        parse(["--password"])
    assert "expected one argument" in capsys.readouterr().err
