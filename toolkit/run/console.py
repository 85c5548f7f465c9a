"""What a run prints: text (a bar on stderr, the table on stdout), JSON lines for scripts, or nothing."""

from __future__ import annotations

import json
import sys
from typing import Any, Literal

LogFormat = Literal["text", "json"]


class Console:
    """Where a run's messages go: ``text`` (a bar on stderr, the table on stdout), ``json`` (one event per line
    on stdout) or ``quiet`` (nothing but errors and warnings)."""

    def __init__(self, log_format: LogFormat = "text", quiet: bool = False):
        self.log_format = log_format
        self.quiet = quiet

    @property
    def shows_text(self) -> bool:
        return self.log_format == "text" and not self.quiet

    def text(self, line: str) -> None:
        if self.shows_text:
            print(line, flush=True)

    def warn(self, line: str) -> None:
        """A warning: on stderr, shown even when quiet."""
        print(f"noisesearch: warning: {line}", file=sys.stderr, flush=True)

    def event(self, name: str, **fields: Any) -> None:
        if self.log_format == "json" and not self.quiet:
            print(json.dumps({"event": name, **fields}, sort_keys=True), flush=True)
