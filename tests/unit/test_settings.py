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
