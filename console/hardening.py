"""Browser hardening of the console: its Content-Security-Policy, and Swagger UI served from local files."""

from __future__ import annotations

from importlib.util import find_spec
from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

# Pages use only their own scripts and styles (inline style attributes aside); nothing may frame them.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'"
)
DOCS = "/api/docs"
DOCS_ASSETS = "/api/docs/assets"
OPENAPI = "/api/openapi.json"


def swagger_ui_dir() -> Path | None:
    """The folder of Swagger UI's files from the installed swagger-ui-py package, or None when it is missing."""
    spec = find_spec("swagger_ui")
    if spec is None or spec.origin is None:
        return None
    folder = Path(spec.origin).parent / "static"
    return folder if (folder / "swagger-ui-bundle.js").is_file() else None


def _docs_page() -> str:
    # The start-up script is a file too: the CSP allows no inline script.
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Anxin console API</title>'
        f'<link rel="stylesheet" href="{DOCS_ASSETS}/swagger-ui.css"></head><body><div id="swagger-ui"></div>'
        f'<script src="{DOCS_ASSETS}/swagger-ui-bundle.js"></script>'
        '<script src="/static/api-docs.js"></script></body></html>'
    )


def serve_docs(app: FastAPI) -> bool:
    """Serve Swagger UI at /api/docs from local files (never a CDN); False when its package is not installed."""
    folder = swagger_ui_dir()
    if folder is None:
        return False
    app.mount(DOCS_ASSETS, StaticFiles(directory=folder), name="api-docs-assets")

    @app.get(DOCS, include_in_schema=False)
    def docs() -> HTMLResponse:
        return HTMLResponse(_docs_page(), headers={"Cache-Control": "no-store"})

    return True
