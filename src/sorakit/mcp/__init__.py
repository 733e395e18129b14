"""The MCP server: the engine's video and image tools shaped for agents (`sorakit mcp`, `/mcp`).

Tools are thin calls into the one `Engine`; planning, prices, budgets and the ledger are its.
The `mcp` SDK is an optional extra (`uv sync --extra mcp`, `pip install 'sorakit[mcp]'`), so
nothing here is imported by the rest of the package.
"""

from sorakit.mcp.server import build_server

__all__ = ["build_server"]
