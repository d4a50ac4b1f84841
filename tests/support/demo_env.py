"""The environment a test gives `anxin demo`: its own state folder, SMS through a Twilio stand-in, no outer config."""

from __future__ import annotations

import os
from pathlib import Path

from shell.twilio_standin import TwilioStandin

FROM_NUMBER = "+15005550006"  # Twilio's magic test number: the sender the demo's SMS must show


def demo_env(state: Path, twilio: TwilioStandin) -> dict[str, str]:
    """This process's environment for a demo in `state` that sends SMS to `twilio` (ANXIN_CONFIG dropped)."""
    env = {
        **os.environ,
        "ANXIN_STATE_DIR": str(state),
        "ANXIN_ALERTS__TWILIO__ACCOUNT_SID": twilio.account_sid,
        "ANXIN_ALERTS__TWILIO__AUTH_TOKEN": twilio.auth_token,
        "ANXIN_ALERTS__TWILIO__FROM_NUMBER": FROM_NUMBER,
        "ANXIN_ALERTS__TWILIO__API_BASE": twilio.url,
    }
    env.pop("ANXIN_CONFIG", None)
    return env
