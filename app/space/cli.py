"""Finding the space a command names."""
from app.lib.cli_output import fail
from app.space import store


def space_or_fail(conn, slug: str, as_json: bool) -> dict:
    """The space with this slug, or exit with an error that says how to list spaces."""
    try:
        return store.get_space_by_slug(conn, slug)
    except store.NotFound:
        fail(as_json, f"no space with slug {slug!r} (see `flask --app wsgi space list`)")
