"""InfluxQL over HTTP `/query`, which InfluxDB 1.x, 2.x (v1 compatibility) and 3.x all answer."""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from typing import Any


class InfluxQueryError(RuntimeError):
    """A query failed; the message says why, never with credentials."""


@dataclass(frozen=True)
class Series:
    """One series of a result: its name, tags, column names and rows."""

    name: str
    tags: dict[str, str]
    columns: list[str]
    values: list[list[Any]]

    def records(self) -> list[dict[str, Any]]:
        """Rows as dicts keyed by column, with the series' tags merged in."""
        return [{**self.tags, **dict(zip(self.columns, row, strict=True))} for row in self.values]


@dataclass(frozen=True)
class InfluxQL:
    """A minimal InfluxQL client."""

    url: str
    database: str
    token: str | None = None
    timeout_s: float = 10.0

    def query(self, q: str) -> list[Series]:
        """Run one statement and return its series (epoch times in ms)."""
        params = urllib.parse.urlencode({"db": self.database, "q": q, "epoch": "ms"})
        req = urllib.request.Request(f"{self.url.rstrip('/')}/query?{params}")
        if self.token:
            req.add_header("Authorization", f"Token {self.token}")
        try:
            with urllib.request.urlopen(req, timeout=self.timeout_s) as resp:
                body = json.loads(resp.read())
        except urllib.error.HTTPError as err:
            raise InfluxQueryError(f"InfluxDB answered {err.code} to a query: {err.read()[:200]!r}") from err
        except (OSError, ValueError) as err:
            raise InfluxQueryError(f"InfluxDB at {self.url} could not be queried: {err}") from err
        out: list[Series] = []
        for result in body.get("results", []):
            if "error" in result:
                raise InfluxQueryError(f"InfluxQL error: {result['error']}")
            for s in result.get("series", []):
                out.append(Series(s.get("name", ""), s.get("tags", {}) or {}, s["columns"], s["values"]))
        return out
