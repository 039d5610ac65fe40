"""`flask --app wsgi deck …`: keep the deck's rollups folded, or rebuild them from the raw data."""
import json

import click
from flask import Flask

from app import db
from app.reporting import maintenance
from app.reporting import store as reporting
from app.space import store as space_store


def register(app: Flask) -> None:
    """Attach the `deck` command group."""

    @app.cli.group("deck")
    def deck_group():
        """The ops deck's rollups."""

    @deck_group.command("fold")
    @click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
    def fold_command(as_json: bool):
        """Fold waiting deltas into the rollups (the deck also does this before it reads)."""
        folded = maintenance.fold_all_spaces()
        click.echo(json.dumps({"ok": True, "folded": folded}) if as_json else f"folded {folded} deltas")

    @deck_group.command("rebuild")
    @click.argument("space")
    @click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
    def rebuild_command(space: str, as_json: bool):
        """Recompute a space's rollups from its clicks, journeys and events (e.g. after a time zone change)."""
        with db.transaction() as conn:
            try:
                row = space_store.get_space_by_slug(conn, space)
            except space_store.NotFound:
                message = f"no space with slug {space!r} (see `flask --app wsgi space list`)"
                click.echo(json.dumps({"ok": False, "error": message}) if as_json else f"error: {message}", err=not as_json)
                raise SystemExit(1)
            reporting.rebuild(conn, row["id"])
        click.echo(json.dumps({"ok": True, "space": row["slug"]}) if as_json else f"rebuilt the rollups of {row['slug']}")
