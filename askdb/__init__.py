"""askdb: ask the ads database questions in Chinese; get checked SQL, a table and a short analysis.

from askdb import Assistant
answer = Assistant.from_settings().ask("点赞最多的 5 条笔记")
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"
__all__ = ["Answer", "Assistant", "Settings", "Turn"]


def __getattr__(name: str) -> Any:
    # Imported on first use so `import askdb` stays cheap (the assistant pulls in pandas and sqlglot).
    if name in {"Answer", "Assistant", "Turn"}:
        from askdb import assistant

        return getattr(assistant, name)
    if name == "Settings":
        from askdb.settings import Settings

        return Settings
    raise AttributeError(f"module 'askdb' has no attribute {name!r}")
