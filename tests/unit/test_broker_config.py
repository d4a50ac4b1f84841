"""The generated broker files: every non-service account is a bound, mute home; services stay free (issue 13)."""

from __future__ import annotations

import json
import stat
from pathlib import Path

from anxin.broker import (
    ADMIN_ACCOUNT,
    DYNSEC_FILE,
    SERVICE_ACL,
    agent_client_id,
    dynsec_config,
    write_broker_files,
)


def test_every_account_but_the_services_is_bound_to_its_agent_id_and_may_not_subscribe() -> None:
    users = {u: "pw" for u in [*SERVICE_ACL, "h-aaaaaa01", "h-bbbbbb02", "bench"]}
    cfg = dynsec_config(users, extra_acl={"bench": ["topic write anxin/v1/homes/#"]})
    clients = {c["username"]: c for c in cfg["clients"]}
    assert set(clients) == {"h-aaaaaa01", "h-bbbbbb02"}  # services (and listed extras) keep free ids
    assert clients["h-aaaaaa01"]["clientid"] == agent_client_id("h-aaaaaa01") == "agent-h-aaaaaa01"
    assert "password" not in clients["h-aaaaaa01"]  # passwords stay in the password file
    (role,) = cfg["roles"]
    assert role["acls"] == [{"acltype": "subscribePattern", "topic": "#", "allow": False, "priority": 0}]
    # Nothing the plugin leaves undecided is allowed by it: the ACL file decides.
    assert not any(cfg["defaultACLAccess"].values())


def test_the_config_loads_the_plugin_and_the_files_are_private(tmp_path: Path) -> None:
    conf = write_broker_files(tmp_path, 1883, {"h-aaaaaa01": "pw", ADMIN_ACCOUNT: "pw2"})
    text = conf.read_text()
    assert "plugin " in text and f"plugin_opt_config_file {tmp_path / DYNSEC_FILE}" in text
    assert f"user {ADMIN_ACCOUNT}\ntopic readwrite $CONTROL/dynamic-security/v1/#" in (tmp_path / "acl").read_text()
    for name in ("passwd", DYNSEC_FILE):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o600
    bound = json.loads((tmp_path / DYNSEC_FILE).read_text())["clients"]
    assert [c["username"] for c in bound] == ["h-aaaaaa01"]
