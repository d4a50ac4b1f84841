"""Settings: env over TOML, a bad value names its setting, unknown keys are errors, service accounts default."""

from __future__ import annotations

from pathlib import Path

import pytest

from anxin.settings import ConfigError, load_settings
from ingest.config import IngestSettings


def test_env_overrides_toml_and_account_survives(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = tmp_path / "anxin.toml"
    cfg.write_text('[mqtt]\nport = 1884\nhost = "broker.local"\n[ingest]\nbatch_size = 100\n[console]\nport = 9\n')
    monkeypatch.setenv("ANXIN_CONFIG", str(cfg))
    monkeypatch.setenv("ANXIN_MQTT__PORT", "1885")
    s = load_settings(IngestSettings)
    assert (s.mqtt.host, s.mqtt.port, s.mqtt.username, s.ingest.batch_size) == ("broker.local", 1885, "ingest", 100)


def test_bad_value_names_the_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANXIN_INGEST__BATCH_SIZE", "lots")
    with pytest.raises(ConfigError, match=r"ingest\.batch_size \[ANXIN_INGEST__BATCH_SIZE\]"):
        load_settings(IngestSettings)


def test_secrets_are_not_echoed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANXIN_INFLUX__TOKEN", "s3cret-token")
    monkeypatch.setenv("ANXIN_INFLUX__URL", "ftp://nope")
    with pytest.raises(ConfigError) as err:
        load_settings(IngestSettings)
    assert "influx.url" in str(err.value) and "s3cret-token" not in str(err.value)


@pytest.mark.parametrize(
    ("text", "needle"),
    [("[mqtt]\nprot = 1\n", "mqtt.prot"), ("[mqqt]\nport = 1\n", "unknown setting(s) mqqt"), ("[mqtt\n", "TOML")],
)
def test_toml_mistakes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str, needle: str) -> None:
    cfg = tmp_path / "anxin.toml"
    cfg.write_text(text)
    monkeypatch.setenv("ANXIN_CONFIG", str(cfg))
    with pytest.raises(ConfigError, match=needle.replace("(", r"\(").replace(")", r"\)").replace(".", r"\.")):
        load_settings(IngestSettings)


def test_edge_agent_reads_its_file_through_the_same_machinery(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from edge.config import load_edge_settings

    cfg = tmp_path / "edge.toml"
    cfg.write_text('home = "h-abc123"\nheartbeat_s = 30\n[mqtt]\nport = 8883\n')
    monkeypatch.setenv("ANXIN_EDGE__MQTT__PORT", "1884")
    s = load_edge_settings(cfg)
    # The variable over the file, the file over the default; the broker account defaults to the home.
    assert (s.heartbeat_s, s.mqtt.port, s.mqtt.username) == (30, 1884, "h-abc123")
    monkeypatch.setenv("ANXIN_EDGE__HEARTBEAT_S", "0")
    with pytest.raises(ConfigError, match=r"setting heartbeat_s \[ANXIN_EDGE__HEARTBEAT_S\]: .* \(got '0'\)"):
        load_edge_settings(cfg)
    monkeypatch.delenv("ANXIN_EDGE__HEARTBEAT_S")
    cfg.write_text('home = "h-abc123"\nhome_id = "x"\n')  # a misspelt key is an error at its line, not ignored
    with pytest.raises(ConfigError, match=rf"{cfg}:2: home_id \[ANXIN_EDGE__HOME_ID\]: Extra inputs"):
        load_edge_settings(cfg)
    with pytest.raises(ConfigError, match="no such config file"):
        load_edge_settings(tmp_path / "missing.toml")


def test_a_service_file_error_names_its_line_and_variable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = tmp_path / "anxin.toml"
    cfg.write_text('[mqtt]\nhost = "b"\n[ingest]\nbatch_size = "lots"\n')
    monkeypatch.setenv("ANXIN_CONFIG", str(cfg))
    with pytest.raises(ConfigError, match=rf"{cfg}:4: ingest\.batch_size \[ANXIN_INGEST__BATCH_SIZE\]"):
        load_settings(IngestSettings)


def test_the_edge_agent_imports_no_service_dependency() -> None:
    # `pip install .[edge]` has none of these: the agent, its CLI and its settings must not need them.
    import subprocess
    import sys

    heavy = ("fastapi", "sqlalchemy", "river", "influxdb_client", "twilio", "jinja2", "alembic")
    code = (
        "import sys, edge.agent, edge.cli, edge.doctor, edge.config, anxin.settings\n"
        f"print(sorted(m for m in {heavy!r} if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=Path(__file__).parents[2]
    )
    assert out.stdout.strip() == "[]", out.stdout
