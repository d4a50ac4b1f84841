"""Write line protocol to InfluxDB: the v2 API through influxdb-client, or v1 `/write` for servers before 1.8."""

from __future__ import annotations

import gzip
import logging
import re
import urllib.error
import urllib.parse
import urllib.request
from typing import Any, Protocol

from anxin.settings import InfluxSettings

log = logging.getLogger(__name__)


class WriteError(RuntimeError):
    """A batch was not stored; `retryable` says whether trying again can help."""

    def __init__(self, message: str, *, retryable: bool) -> None:
        super().__init__(message)
        self.retryable = retryable


class LineWriter(Protocol):
    """Stores a batch of line-protocol points, all or nothing."""

    api: str

    def write(self, lines: list[str]) -> None:
        """Store the points or raise WriteError."""

    def close(self) -> None:
        """Release connections."""


def server_version(url: str, timeout: float = 5.0) -> str | None:
    """The version InfluxDB reports on /ping (X-Influxdb-Version), or None when it says none."""
    try:
        with urllib.request.urlopen(f"{url.rstrip('/')}/ping", timeout=timeout) as resp:
            version = resp.headers.get("X-Influxdb-Version")
            return str(version) if version else None
    except OSError as err:
        raise WriteError(f"InfluxDB at {url} is not reachable: {err}", retryable=True) from err


def needs_v1(version: str | None) -> bool:
    """Whether a server must be written through the v1 `/write` API (InfluxDB older than 1.8)."""
    if not version:
        return False  # servers that do not say (VictoriaMetrics, proxies) speak the v2 write API
    m = re.match(r"v?(\d+)\.(\d+)", version)
    return m is not None and (int(m.group(1)), int(m.group(2))) < (1, 8)


class V1Writer:
    """InfluxDB 1.x `/write` with gzip, precision ns."""

    api = "v1"

    def __init__(self, settings: InfluxSettings) -> None:
        query = {"db": settings.database, "precision": "ns", "rp": settings.retention_policy}
        self._url = f"{settings.url.rstrip('/')}/write?{urllib.parse.urlencode(query)}"
        self._timeout = settings.timeout_s
        self._token = settings.token.get_secret_value() if settings.token else None

    def write(self, lines: list[str]) -> None:
        """POST the batch; 4xx is permanent (bad points), 5xx and network errors are retryable."""
        body = gzip.compress(("\n".join(lines) + "\n").encode(), compresslevel=1)
        req = urllib.request.Request(self._url, data=body, method="POST")
        req.add_header("Content-Encoding", "gzip")
        req.add_header("Content-Type", "text/plain; charset=utf-8")
        if self._token:
            req.add_header("Authorization", f"Token {self._token}")
        try:
            with urllib.request.urlopen(req, timeout=self._timeout) as resp:
                resp.read()
        except urllib.error.HTTPError as err:
            detail = err.read()[:300].decode(errors="replace")
            raise WriteError(f"InfluxDB /write answered {err.code}: {detail}", retryable=err.code >= 500) from err
        except OSError as err:
            raise WriteError(f"InfluxDB /write failed: {err}", retryable=True) from err

    def close(self) -> None:
        """Nothing to release: one request per batch."""


class V2Writer:
    """The v2 write API through influxdb-client (InfluxDB 1.8+, 2.x, 3.x, VictoriaMetrics)."""

    api = "v2"

    def __init__(self, settings: InfluxSettings) -> None:
        from influxdb_client.client.influxdb_client import InfluxDBClient
        from influxdb_client.client.write_api import SYNCHRONOUS

        token = settings.token.get_secret_value() if settings.token else ""
        self._client = InfluxDBClient(
            url=settings.url, token=token, org=settings.org, timeout=int(settings.timeout_s * 1000), enable_gzip=True
        )
        self._api = self._client.write_api(write_options=SYNCHRONOUS)
        # 1.8+ maps bucket "db/rp" onto a database and retention policy; 2.x buckets are named the same way here.
        self._bucket = f"{settings.database}/{settings.retention_policy}"
        self._org = settings.org

    def write(self, lines: list[str]) -> None:
        """Write the batch synchronously."""
        from influxdb_client.domain.write_precision import WritePrecision
        from influxdb_client.rest import ApiException
        from urllib3.exceptions import HTTPError as Urllib3Error

        try:
            precision: Any = WritePrecision.NS  # a str constant, though the signature says WritePrecision
            self._api.write(bucket=self._bucket, org=self._org, record="\n".join(lines), write_precision=precision)
        except ApiException as err:
            status = int(err.status or 0)
            raise WriteError(
                f"InfluxDB v2 write answered {status}: {str(err.body)[:300]}",
                retryable=status >= 500 or status in (0, 429),
            ) from err
        except (Urllib3Error, OSError) as err:
            raise WriteError(f"InfluxDB v2 write failed: {err}", retryable=True) from err

    def close(self) -> None:
        """Close the client's connection pool."""
        self._client.close()  # type: ignore[no-untyped-call]


def make_writer(settings: InfluxSettings) -> LineWriter:
    """The writer for the configured API, or for the version the server reports when `api` is auto."""
    api = settings.api
    if api == "auto":
        version = server_version(settings.url)
        api = "v1" if needs_v1(version) else "v2"
        log.info("InfluxDB at %s reports version %s: using the %s write API", settings.url, version or "?", api)
    return V1Writer(settings) if api == "v1" else V2Writer(settings)


def _influxql_post(settings: InfluxSettings, statement: str) -> dict[str, Any]:
    import json

    req = urllib.request.Request(
        f"{settings.url.rstrip('/')}/query", data=urllib.parse.urlencode({"q": statement}).encode(), method="POST"
    )
    if settings.token:
        req.add_header("Authorization", f"Token {settings.token.get_secret_value()}")
    try:
        with urllib.request.urlopen(req, timeout=settings.timeout_s) as resp:
            body: dict[str, Any] = json.loads(resp.read())
    except urllib.error.HTTPError as err:
        raise WriteError(f"InfluxDB answered {err.code} to {statement.split()[0]}", retryable=err.code >= 500) from err
    except (OSError, ValueError) as err:
        raise WriteError(f"InfluxDB query failed: {err}", retryable=True) from err
    for result in body.get("results", []):
        if "error" in result:
            raise WriteError(f"InfluxQL error: {result['error']}", retryable=False)
    return body


def ensure_retention(settings: InfluxSettings, duration: str) -> str:
    """Create the database and the retention policy with `duration` (1.x), or alter its duration; returns what it did.

    InfluxDB 2.x/3.x and VictoriaMetrics keep retention on the bucket or server instead: nothing to do there.
    """
    version = server_version(settings.url)
    if not version or not re.match(r"v?1\.", version):
        return f"retention left to the server (version {version or 'unknown'})"
    db, rp = settings.database, settings.retention_policy
    _influxql_post(settings, f'CREATE DATABASE "{db}"')  # a no-op when it exists
    body = _influxql_post(settings, f'SHOW RETENTION POLICIES ON "{db}"')
    series = (body.get("results") or [{}])[0].get("series") or [{"columns": [], "values": []}]
    cols = series[0]["columns"]
    existing = {row[cols.index("name")]: row[cols.index("duration")] for row in series[0]["values"]}
    influx_duration = "0s" if duration == "INF" else duration
    if rp not in existing:
        _influxql_post(settings, f'CREATE RETENTION POLICY "{rp}" ON "{db}" DURATION {influx_duration} REPLICATION 1')
        return f"created retention policy {rp} on {db} with duration {duration}"
    if _hours(existing[rp]) != _hours(influx_duration):
        _influxql_post(settings, f'ALTER RETENTION POLICY "{rp}" ON "{db}" DURATION {influx_duration}')
        return f"changed retention policy {rp} on {db} from {existing[rp]} to {duration}"
    return f"retention policy {rp} on {db} already keeps {duration}"


def _hours(d: str) -> int:
    """Hours in an InfluxDB duration such as `2184h0m0s`, `104w`, `7d` or `0s` (infinite)."""
    total = 0
    for n, unit in re.findall(r"(\d+)([wdhms])", d):
        total += int(n) * {"w": 168, "d": 24, "h": 1, "m": 0, "s": 0}[unit]
    return total
