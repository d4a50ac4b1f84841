"""`anxin console` and the console package's other commands: accounts and API tokens."""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated

import typer

from anxin.cli_common import ConfigOpt, use_config
from anxin.runtime import settings_or_exit, setup_logging

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

PASSWORD_ENV = "ANXIN_CONSOLE_PASSWORD"


def run_console(config: ConfigOpt = None) -> None:
    """Run the operators' web console."""
    use_config(config)
    from console.config import ConsoleSettings
    from console.service import run_service

    settings = settings_or_exit(ConsoleSettings)
    setup_logging(settings.log_level)
    run_service(settings)


def _db_url() -> str:
    from console.config import ConsoleSettings

    return settings_or_exit(ConsoleSettings).database.url


def user_add(
    username: Annotated[str, typer.Argument(help="Log-in name: lower-case letters, digits, '.', '_', '-'")],
    role: Annotated[str, typer.Option(help="admin, operator or viewer")] = "operator",
    name: Annotated[str | None, typer.Option(help="Name shown on pages and timelines")] = None,
    config: ConfigOpt = None,
) -> None:
    """Create a console account; the password is read from ANXIN_CONSOLE_PASSWORD or asked for."""
    use_config(config)
    from anxin.db.engine import make_engine, session_factory, upgrade
    from console.accounts import AccountError, audit, create_operator

    password = os.environ.get(PASSWORD_ENV) or typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    url = _db_url()
    upgrade(url)
    engine = make_engine(url)
    try:
        with session_factory(engine)() as s:
            now = datetime.now(UTC)
            op = create_operator(s, username, password, role, now, name)
            audit(s, now, "cli", "operator_created", f"operator:{op.username}", {"role": role})
            s.commit()
    except AccountError as err:
        typer.echo(f"anxin console user add: {err}", err=True)
        raise typer.Exit(2) from err
    finally:
        engine.dispose()
    typer.echo(f"created {role} {op.username!r}")


def token_create(
    username: Annotated[str, typer.Argument(help="The account the token acts as")],
    name: Annotated[str, typer.Option(help="What the token is for")] = "integration",
    config: ConfigOpt = None,
) -> None:
    """Create an API token for an account and print it once (only its hash is stored)."""
    use_config(config)
    from anxin.db.engine import make_engine, session_factory, upgrade
    from console.accounts import AccountError, create_token

    url = _db_url()
    upgrade(url)
    engine = make_engine(url)
    try:
        with session_factory(engine)() as s:
            token = create_token(s, username, name, datetime.now(UTC))
            s.commit()
    except AccountError as err:
        typer.echo(f"anxin console token create: {err}", err=True)
        raise typer.Exit(2) from err
    finally:
        engine.dispose()
    typer.echo(token)


def _account_change(what: str, change: Callable[[Session, datetime], str], config: ConfigOpt) -> None:
    """Run one account change on the configured database, print what it did, exit 2 on a bad request."""
    use_config(config)
    from anxin.db.engine import make_engine, session_factory, upgrade
    from console.accounts import AccountError

    url = _db_url()
    upgrade(url)
    engine = make_engine(url)
    try:
        with session_factory(engine)() as s:
            done = change(s, datetime.now(UTC))
            s.commit()
    except AccountError as err:
        typer.echo(f"anxin console {what}: {err}", err=True)
        raise typer.Exit(2) from err
    finally:
        engine.dispose()
    typer.echo(done)


def user_disable(username: Annotated[str, typer.Argument(help="The account")], config: ConfigOpt = None) -> None:
    """Disable an account: it cannot log in, its sessions end and its API tokens stop working."""
    from console.accounts import set_active

    _account_change(
        "user disable", lambda s, now: f"disabled {set_active(s, username, False, now, 'cli').username!r}", config
    )


def user_enable(username: Annotated[str, typer.Argument(help="The account")], config: ConfigOpt = None) -> None:
    """Enable a disabled account again."""
    from console.accounts import set_active

    _account_change(
        "user enable", lambda s, now: f"enabled {set_active(s, username, True, now, 'cli').username!r}", config
    )


def token_revoke(
    token_id: Annotated[int, typer.Argument(help="The token's id (GET /api/operators)")], config: ConfigOpt = None
) -> None:
    """Revoke an API token; it stops working at once."""
    from console.accounts import revoke_token

    _account_change("token revoke", lambda s, now: f"revoked token {revoke_token(s, token_id, now, 'cli').id}", config)


def register(app: typer.Typer) -> None:
    """Add this package's commands to `anxin`."""
    console_app = typer.Typer(help="The operators' web console.", invoke_without_command=True)

    @console_app.callback()
    def _console(ctx: typer.Context, config: ConfigOpt = None) -> None:
        """Run the operators' web console (or one of its commands)."""
        if ctx.invoked_subcommand is None:
            run_console(config)

    user_app = typer.Typer(help="Console accounts.", no_args_is_help=True)
    user_app.command("add")(user_add)
    user_app.command("disable")(user_disable)
    user_app.command("enable")(user_enable)
    token_app = typer.Typer(help="API tokens.", no_args_is_help=True)
    token_app.command("create")(token_create)
    token_app.command("revoke")(token_revoke)
    console_app.add_typer(user_app, name="user")
    console_app.add_typer(token_app, name="token")
    app.add_typer(console_app, name="console")
