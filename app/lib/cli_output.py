"""How every `flask --app wsgi …` command answers: one JSON object with --json, text otherwise."""
import json

import click


def emit(as_json: bool, payload: dict, text: str) -> None:
    """Print the result: `payload` as one line of JSON for scripts, or `text` for people."""
    click.echo(json.dumps(payload, default=str) if as_json else text)


def fail(as_json: bool, message: str, code: int = 1):
    """Print the error ({"ok": false, "error": …} with --json, else on stderr) and exit with `code`."""
    if as_json:
        click.echo(json.dumps({"ok": False, "error": message}))
    else:
        click.echo(f"error: {message}", err=True)
    raise SystemExit(code)
