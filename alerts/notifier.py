"""Where an SMS goes: Twilio's Messages API through the twilio client, or the local outbox when unconfigured."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from alerts.config import DEFAULT_TWILIO_API, TwilioSettings
from alerts.redact import redact

log = logging.getLogger(__name__)

PROVIDER_TWILIO = "twilio"
PROVIDER_LOCAL = "local"

# Twilio error codes worth trying again later; 4xx codes not listed here are permanent (21211 invalid To,
# 21610 unsubscribed, 21614 not a mobile, 21408 region not enabled, ...).
RETRYABLE_TWILIO_CODES = frozenset({20429, 20500, 20503, 30001})


@dataclass(frozen=True)
class SendResult:
    """The outcome of one send; `error` is already free of secrets and phone numbers."""

    ok: bool
    retryable: bool = False
    provider_sid: str | None = None
    error: str | None = None


class Notifier(Protocol):
    """Sends one SMS; `key` is the outbox idempotency key."""

    @property
    def provider(self) -> str:
        """Short provider name stored on the outbox row."""
        ...

    def send(self, to: str, body: str, key: str) -> SendResult:
        """Send an SMS and say whether it was accepted and, if not, whether a retry may help."""
        ...

    def find_sent(self, to: str, body: str, since: datetime) -> str | None:
        """The provider id of this very message if the provider already has it (after a crash mid-send), else None."""
        ...


class LocalOutboxNotifier:
    """No provider: the outbox row itself is the message, shown by the console."""

    provider = PROVIDER_LOCAL

    def send(self, to: str, body: str, key: str) -> SendResult:
        """Accept the message as delivered to the local outbox."""
        return SendResult(ok=True)

    def find_sent(self, to: str, body: str, since: datetime) -> str | None:
        """Nothing leaves this machine, so a repeated local send cannot reach anyone twice."""
        return None


def classify_http_error(status: int, code: int | None) -> bool:
    """True when an HTTP error from Twilio is worth retrying (5xx, 429, and a few Twilio codes)."""
    return status >= 500 or status == 429 or (code is not None and code in RETRYABLE_TWILIO_CODES)


class TwilioNotifier:
    """Sends through the real twilio client, pointed at `api_base` (Twilio itself, or a stand-in in tests)."""

    provider = PROVIDER_TWILIO

    def __init__(self, settings: TwilioSettings, status_callback_url: str | None = None) -> None:
        from twilio.http.http_client import TwilioHttpClient
        from twilio.rest import Client

        if not settings.configured or settings.auth_token is None:
            raise ValueError("TwilioNotifier needs account_sid, auth_token and from_number")
        self._token = settings.auth_token.get_secret_value()
        self._sid = settings.account_sid
        self._from = settings.from_number
        self._callback = settings.status_callback_url or status_callback_url
        # Our own logger for the client's per-request INFO lines (URL with the account SID, headers): quiet by default.
        http_log = logging.getLogger(f"{__name__}.http")
        http_log.setLevel(logging.WARNING)
        http = TwilioHttpClient(timeout=settings.timeout_s, logger=http_log)
        client = Client(settings.account_sid, self._token, http_client=http)
        if settings.api_base.rstrip("/") != DEFAULT_TWILIO_API:
            # twilio 9: each domain joins its `base_url` with the versioned path at request time, so setting it on
            # the Api domain redirects every Messages call; edge/region (from TWILIO_EDGE/REGION) would rewrite the
            # host of a custom base, so they are cleared.
            client.api.base_url = settings.api_base.rstrip("/")
            client.edge = None
            client.region = None
        self._client = client

    def send(self, to: str, body: str, key: str) -> SendResult:
        """Create a Message; map Twilio and network errors to retryable or permanent."""
        from requests import RequestException
        from twilio.base.exceptions import TwilioRestException, TwilioServiceException

        kwargs: dict[str, Any] = {"to": to, "from_": self._from, "body": body}
        if self._callback:
            kwargs["status_callback"] = self._callback
        try:
            message = self._client.messages.create(**kwargs)
        except TwilioRestException as err:
            code = err.code if isinstance(err.code, int) else None
            return self._failed(classify_http_error(err.status, code), f"HTTP {err.status} code {code}: {err.msg}")
        except TwilioServiceException as err:
            return self._failed(
                classify_http_error(err.status, err.code),
                f"HTTP {err.status} code {err.code}: {err.title} {err.detail or ''}".strip(),
            )
        except RequestException as err:
            return self._failed(True, f"network: {type(err).__name__}: {err}")
        except (ValueError, KeyError) as err:
            return self._failed(True, f"bad response: {type(err).__name__}: {err}")
        sid = message.sid
        return SendResult(ok=True, provider_sid=str(sid) if sid else None)

    def find_sent(self, to: str, body: str, since: datetime) -> str | None:
        """Look for this message among the newest ones sent to `to` (Twilio has no idempotency key for Messages)."""
        from twilio.base.exceptions import TwilioException

        try:
            recent = self._client.messages.list(to=to, from_=self._from, limit=50)
        except (TwilioException, OSError) as err:
            # Unknown: the caller must not send blindly, so it asks again later.
            raise LookupError(redact(f"{type(err).__name__}: {err}", [self._token])[:300]) from err
        slack = timedelta(minutes=5)  # provider and local clocks differ a little
        for m in recent:
            created = m.date_created
            if m.body == body and (created is None or created >= since - slack):
                return str(m.sid)
        return None

    def _failed(self, retryable: bool, text: str) -> SendResult:
        return SendResult(ok=False, retryable=retryable, error=redact(text, [self._token])[:500])


def make_notifier(settings: TwilioSettings, status_callback_url: str | None = None) -> Notifier:
    """Twilio when credentials are configured, otherwise the local outbox."""
    if settings.configured:
        return TwilioNotifier(settings, status_callback_url)
    return LocalOutboxNotifier()
