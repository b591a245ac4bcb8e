"""MCP server configuration: the Python form, the {"mcpServers": ...} file and where it is found;
a mistake is one line naming the server (or file) and the setting."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from ipyagent.mcp import McpConfigError, ServerConfig, config_files, load_config_files, parse_servers


def test_the_python_form_and_the_json_form_mean_the_same() -> None:
    python = parse_servers(
        {
            "files": {"command": "uvx", "args": ["mcp-server-files", "."], "env": {"ROOT": "/data"}},
            "search": "http://127.0.0.1:8123/mcp",
        }
    )
    written = parse_servers(
        json.loads(
            '{"mcpServers": {"files": {"type": "stdio", "command": "uvx", "args": ["mcp-server-files", "."],'
            ' "env": {"ROOT": "/data"}}, "search": {"type": "http", "url": "http://127.0.0.1:8123/mcp"}}}'
        )
    )
    assert python == written
    files, search = python
    assert (files.transport, files.target) == ("stdio", "uvx mcp-server-files .")
    assert dict(files.env) == {"ROOT": "/data"}
    assert (search.transport, search.target) == ("http", "http://127.0.0.1:8123/mcp")


def test_other_clients_spellings_and_disabled_servers() -> None:
    (config,) = parse_servers(
        {
            "mcpServers": {
                "slow": {"command": "srv", "requireApproval": True, "startupTimeout": 5, "timeout": 60},
                "off": {"command": "other", "disabled": True},
            }
        }
    )
    assert (config.name, config.require_approval) == ("slow", True)
    assert (config.startup_timeout, config.timeout) == (5, 60)


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"command": "a", "url": "http://x"}, "give either 'command' (a program to run) or 'url'"),
        ({}, "give either 'command' (a program to run) or 'url'"),
        ({"command": "a", "cmd": "b"}, "unknown setting 'cmd'"),
        ({"command": "a", "env": {"K": 1.5j}}, "env['K'] must be a string"),
        ({"url": "ftp://x"}, "'url' must start with http:// or https://"),
        ({"url": "http://x", "args": ["-v"]}, "'args' is for servers started by a command"),
        ({"command": "a", "timeout": -1}, "'timeout' must be a positive number of seconds"),
        ({"command": "a", "require_approval": "yes"}, "'require_approval' must be true or false"),
        ({"command": "a", "type": "sse"}, "unknown type 'sse'"),
    ],
)
def test_a_bad_setting_is_one_line_naming_the_server(entry: dict[str, object], message: str) -> None:
    with pytest.raises(McpConfigError) as caught:
        parse_servers({"files": entry})
    text = str(caught.value)
    assert text.startswith("MCP server 'files' (python): ") and message in text and "\n" not in text


def test_a_bad_server_name() -> None:
    with pytest.raises(McpConfigError, match="a server name is 1-40 letters"):
        parse_servers({"my files": {"command": "a"}})


def test_files_in_the_notebook_folder_win_over_jupyters_config_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    notebook, jupyter = tmp_path / "project", tmp_path / "jupyter-config"
    notebook.mkdir()
    jupyter.mkdir()
    monkeypatch.setenv("JUPYTER_CONFIG_DIR", str(jupyter))
    monkeypatch.delenv("IPYAGENT_MCP_CONFIG", raising=False)
    (notebook / "mcp.json").write_text(json.dumps({"mcpServers": {"files": {"command": "local-files"}}}))
    (jupyter / "mcp_settings.json").write_text(
        json.dumps(
            {"mcpServers": {"files": {"command": "global-files"}, "web": {"url": "http://127.0.0.1:1/mcp"}}}
        )
    )
    paths = config_files(notebook)
    assert paths[:2] == [notebook / "mcp.json", notebook / ".mcp.json"]
    assert jupyter / "mcp.json" in paths and jupyter / "mcp_settings.json" in paths
    found = {c.name: c for c in load_config_files(paths)}
    assert found["files"].command == "local-files" and found["files"].source == str(notebook / "mcp.json")
    assert found["web"].url == "http://127.0.0.1:1/mcp"


def test_a_broken_file_says_where(tmp_path: Path) -> None:
    broken = tmp_path / "mcp.json"
    broken.write_text('{"mcpServers": {"files": {"command": "a",}}}')
    with pytest.raises(McpConfigError, match=r"mcp.json: not valid JSON \(line 1: "):
        load_config_files([broken])
    broken.write_text('{"servers": {}}')
    with pytest.raises(McpConfigError, match=re.escape('expected {"mcpServers"')):
        load_config_files([broken])


def test_server_configs_pass_through() -> None:
    config = ServerConfig("x", command="srv")
    assert parse_servers([config]) == [config]
    assert parse_servers({"x": config}) == [config]
