"""MCP servers as tool sources: their tools become the agent's asynchronous tools.

The official ``mcp`` SDK (``pip install 'ipyagent[mcp]'``) is imported only when a server first
starts.
"""

from .config import McpConfigError, ServerConfig, config_files, load_config_files, parse_servers
from .connection import McpServer, McpServerError, McpToolError
from .servers import McpServers, McpTool

__all__ = [
    "McpConfigError",
    "McpServer",
    "McpServerError",
    "McpServers",
    "McpTool",
    "McpToolError",
    "ServerConfig",
    "config_files",
    "load_config_files",
    "parse_servers",
]
