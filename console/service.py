"""Run the console as a service: uvicorn on the configured host and port."""

from __future__ import annotations

import logging

import uvicorn

from anxin.db.engine import upgrade
from console.app import create_app
from console.config import ConsoleSettings

log = logging.getLogger(__name__)


def run_service(settings: ConsoleSettings) -> None:
    """Serve the console until Ctrl-C or SIGTERM (uvicorn handles both and shuts down cleanly)."""
    # The console only reads, but it must find the tables when it is started before the other services.
    upgrade(settings.database.url)
    app = create_app(settings)
    config = uvicorn.Config(
        app,
        host=settings.console.host,
        port=settings.console.port,
        log_level=settings.log_level.lower(),
        access_log=settings.log_level == "DEBUG",
        lifespan="on",
        log_config=None,  # uvicorn's loggers propagate to the caller's logging setup, one format for all services
        server_header=False,
        # Log-in throttling counts by client address: take it from X-Forwarded-For only when sent by a known proxy.
        proxy_headers=settings.console.trusted_proxies is not None,
        forwarded_allow_ips=settings.console.trusted_proxies,
        # Live-update streams never end by themselves: give them a moment, then close them on Ctrl-C.
        timeout_graceful_shutdown=3,
    )
    log.info("console on http://%s:%d/", settings.console.host, settings.console.port)
    uvicorn.Server(config).run()
