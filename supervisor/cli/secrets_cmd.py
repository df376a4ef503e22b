"""``deskpilot secrets``: put secrets in the OS keyring, list their names, remove them.

A value is never taken from the command line, where shell history and ``ps``
would keep it: ``set`` asks for it with a hidden prompt (typed twice) on a
terminal, and reads it from stdin otherwise, so scripts can pipe it in.
No command ever prints a value.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from functools import wraps
from typing import ParamSpec, TypeVar

import click

from automation.errors import DeskpilotError
from automation.secrets import (
    SecretStore,
    secret_store_from_env,
    validate_secret_name,
    value_problem,
)

P = ParamSpec("P")
R = TypeVar("R")


class _InputError(click.ClickException):
    """A bad argument, reported as one line (not click's usage block) with exit code 2."""

    exit_code = 2


def _one_line_errors(command: Callable[P, R]) -> Callable[P, R]:
    """Deskpilot errors become one line on stderr and exit code 1, never a traceback."""

    @wraps(command)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return command(*args, **kwargs)
        except DeskpilotError as error:
            raise click.ClickException(str(error)) from error

    return wrapper


def _checked_name(name: str) -> str:
    try:
        return validate_secret_name(name)
    except DeskpilotError as error:
        raise _InputError(str(error)) from error


def _read_value(name: str) -> str:
    stdin = sys.stdin
    if stdin.isatty():
        value: str = click.prompt(
            f"Value for secret '{name}'",
            hide_input=True,
            confirmation_prompt=True,
            prompt_suffix=": ",
            err=True,
        )
        return value
    value = stdin.read()
    # `echo value | deskpilot secrets set x` adds a newline that is not part of the secret
    if value.endswith("\r\n"):
        value = value[:-2]
    elif value.endswith("\n"):
        value = value[:-1]
    return value


@click.group("secrets")
def secrets_group() -> None:
    """Manage the secrets workflows use ({{ secrets.NAME }}), kept in the OS keyring.

    Set DESKPILOT_KEYRING_SERVICE to use another keyring service than 'deskpilot'.
    """


@secrets_group.command("set")
@click.argument("name")
@_one_line_errors
def set_command(name: str) -> None:
    """Store the secret NAME; its value is prompted for, or read from stdin.

    Values shorter than 8 characters are refused: they cannot be masked safely
    in logs and history. The value is never accepted as an argument. One trailing newline on stdin is
    dropped, so `printf '%s\\n' "$TOKEN" | deskpilot secrets set api_token` works.
    """
    _checked_name(name)
    value = _read_value(name)
    problem = value_problem(name, value)
    if problem is not None:
        raise _InputError(problem)
    store: SecretStore = secret_store_from_env()
    store.set(name, value)
    click.echo(f"stored secret '{name}'", err=True)


@secrets_group.command("list")
@click.option("--json", "as_json", is_flag=True, help="print the names as a JSON list")
@_one_line_errors
def list_command(as_json: bool) -> None:
    """Print the names of the stored secrets (never their values)."""
    names = secret_store_from_env().names()
    if as_json:
        click.echo(json.dumps(names))
        return
    if not names:
        click.echo("no secrets stored; add one with: deskpilot secrets set NAME", err=True)
        return
    for name in names:
        click.echo(name)


@secrets_group.command("delete")
@click.argument("name")
@_one_line_errors
def delete_command(name: str) -> None:
    """Remove the secret NAME from the keyring."""
    _checked_name(name)
    if not secret_store_from_env().delete(name):
        raise click.ClickException(f"secret '{name}' is not in the keyring; nothing deleted")
    click.echo(f"deleted secret '{name}'", err=True)


if __name__ == "__main__":  # pragma: no cover - `python -m supervisor.cli.secrets_cmd`
    secrets_group()
