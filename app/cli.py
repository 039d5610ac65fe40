"""Operator commands: `flask --app wsgi <group> <command>`; `--json` prints one JSON object for scripts."""
import functools
import secrets
import sys
from datetime import timedelta

import click
from flask import Flask, current_app

from app import db
from app.auth import store as auth_store
from app.dashboard import cli as deck_cli
from app.delivery import cli as delivery_cli
from app.lib import clock, passwords
from app.link import cli as link_cli
from app.rate import cli as rates_cli
from app.lib.cli_output import emit as _emit, fail as _fail
from app.space import store as space_store
from app.space.cli import space_or_fail as _space_or_fail
from app.web import store as web_store


def _mint_keys(conn, space_id: int, kinds: tuple[str, ...], rotate: bool) -> dict[str, str]:
    now = clock.now()
    grace = timedelta(hours=current_app.config["KEY_GRACE_HOURS"])
    return {kind: (auth_store.rotate_key(conn, space_id, kind, now, grace) if rotate
                   else auth_store.create_key(conn, space_id, kind, now)) for kind in kinds}


NO_PASSWORD = ("no password given: type it at the prompt in a terminal, or send it on standard input:"
               " printf '%s\\n' \"$PASSWORD\" | flask --app wsgi user … --password-stdin")


def _read_password(from_stdin: bool) -> str:
    """The password from standard input (first line) when asked or not a terminal, else a hidden prompt."""
    if from_stdin or not sys.stdin.isatty():
        return sys.stdin.readline().rstrip("\r\n")
    return click.prompt("Password", hide_input=True, confirmation_prompt=True)


def _create_demo_link(conn, space_id: int, base: str):
    """The first run's link `demo`: its landing mints a click and redirects to the links guide with the uid."""
    from app.link.parse import parse_link
    from app.link.store import create_link
    link_in = parse_link({"slug": "demo", "kind": "web", "target": f"{base}/docs/links?uid={{uid}}",
                          "name": "Demo landing", "mode": "redirect"}, frozenset())
    return create_link(conn, space_id, link_in, clock.now())


def _on_storage_unavailable(group: click.Group) -> None:
    """Make every command of `group` (and of groups added to it later) answer a PostgreSQL outage
    with one clear line and exit 1, instead of a traceback.

    Commands are wrapped when the group hands them out, so the rule holds for commands registered
    after this call too.
    """
    get_command = group.get_command

    def wrapped_get_command(ctx, name):
        command = get_command(ctx, name)
        if isinstance(command, click.Group):
            _on_storage_unavailable(command)
        elif command is not None and command.callback and not getattr(command.callback, "_xt_storage", False):
            command.callback = _storage_guard(command.callback)
        return command

    group.get_command = wrapped_get_command


def _storage_guard(callback):
    @functools.wraps(callback)
    def guarded(*args, **kwargs):
        try:
            return callback(*args, **kwargs)
        except db.StorageUnavailable as exc:
            _fail(bool(kwargs.get("as_json")),
                  f"PostgreSQL is not reachable ({exc}); is `make run` running, and are DATABASE_URL and"
                  " REDIS_URL set (`. var/env.sh`)?")
    guarded._xt_storage = True
    return guarded


def register_cli(app: Flask) -> None:
    """Attach every command group to the app."""
    link_cli.register(app)
    delivery_cli.register(app)
    deck_cli.register(app)
    rates_cli.register(app)
    from app.telegram import cli as telegram_cli
    telegram_cli.register(app)

    _on_storage_unavailable(app.cli)

    @app.cli.group("db")
    def db_group():
        """Database schema."""

    @db_group.command("migrate")
    @click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
    def migrate_command(as_json: bool):
        """Apply pending migrations from sql/migrations."""
        with db.connection() as conn:
            applied = db.migrate(conn)
        _emit(as_json, {"ok": True, "applied": applied},
              "\n".join(f"applied {v}" for v in applied) or "schema is up to date")

    @app.cli.group("space")
    def space_group():
        """Spaces (tenants)."""

    @space_group.command("create")
    @click.argument("name")
    @click.option("--time-zone", default="UTC", show_default=True, help="IANA time zone of the space's reports.")
    @click.option("--currency", default="USD", show_default=True, help="Main currency (ISO 4217).")
    @click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
    def create_space_command(name: str, time_zone: str, currency: str, as_json: bool):
        """Create a space and its two secrets (shown this once)."""
        from app.lib.currency import normalize_currency
        from app.lib.timezones import is_time_zone
        code = normalize_currency(currency)
        if code is None:
            _fail(as_json, f"currency {currency!r} is not an ISO 4217 code")
        if not is_time_zone(time_zone):
            _fail(as_json, f"time zone {time_zone!r} is not an IANA time zone such as Europe/Berlin")
        if not name.strip() or len(name) > 200:
            _fail(as_json, "name must be 1-200 characters")
        with db.transaction() as conn:
            space = space_store.create_space(conn, name.strip(), time_zone=time_zone, currency=code)
            keys = _mint_keys(conn, space["id"], auth_store.KINDS, rotate=False)
        _emit(as_json, {"space": space["slug"], "bearer": keys["bearer"], "ingest_token": keys["ingest"]},
              f"space {space['slug']} created\n"
              f"bearer:       {keys['bearer']}\ningest token: {keys['ingest']}\n"
              "These secrets are shown once; store them now.")

    @space_group.command("list")
    @click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
    def list_spaces_command(as_json: bool):
        """List every space."""
        with db.connection() as conn:
            spaces = space_store.list_spaces(conn)
        rows = [{"space": s["slug"], "name": s["name"], "time_zone": s["time_zone"], "currency": s["currency"],
                 "created_at": s["created_at"].isoformat()} for s in spaces]
        _emit(as_json, {"spaces": rows}, "\n".join(f"{r['space']}\t{r['name']}" for r in rows) or "no spaces")

    @app.cli.group("keys")
    def keys_group():
        """API secrets of a space."""

    @keys_group.command("rotate")
    @click.argument("space")
    @click.option("--only", type=click.Choice(["bearer", "ingest"]), help="Rotate just one of the two secrets.")
    @click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
    def rotate_keys_command(space: str, only: str | None, as_json: bool):
        """Issue new secrets; the previous ones keep working for KEY_GRACE_HOURS."""
        kinds = (only,) if only else auth_store.KINDS
        with db.transaction() as conn:
            row = _space_or_fail(conn, space, as_json)
            keys = _mint_keys(conn, row["id"], kinds, rotate=True)
        payload = {"space": row["slug"]}
        if "bearer" in keys:
            payload["bearer"] = keys["bearer"]
        if "ingest" in keys:
            payload["ingest_token"] = keys["ingest"]
        grace = current_app.config["KEY_GRACE_HOURS"]
        _emit(as_json, payload, "\n".join(f"{k}: {v}" for k, v in payload.items())
              + f"\nThe previous secrets keep working for {grace} hours. These are shown once.")

    @keys_group.command("list")
    @click.argument("space")
    @click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
    def list_keys_command(space: str, as_json: bool):
        """Show the space's working secrets by hint (never in full)."""
        with db.connection() as conn:
            row = _space_or_fail(conn, space, as_json)
            keys = auth_store.list_keys(conn, row["id"], clock.now())
        rows = [{"kind": k["kind"], "hint": k["hint"], "created_at": k["created_at"].isoformat(),
                 "expires_at": k["expires_at"].isoformat() if k["expires_at"] else None} for k in keys]
        _emit(as_json, {"space": row["slug"], "keys": rows},
              "\n".join(f"{r['kind']}\t{r['hint']}\texpires {r['expires_at'] or 'never'}" for r in rows))

    @app.cli.group("user")
    def user_group():
        """Dashboard users."""

    @user_group.command("create")
    @click.argument("email")
    @click.option("--space", "space_slug", required=True, help="Space the user joins.")
    @click.option("--role", type=click.Choice(auth_store.ROLES), default="viewer", show_default=True)
    @click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
    @click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
    def create_user_command(email: str, space_slug: str, role: str, password_stdin: bool, as_json: bool):
        """Create a user (or add an existing one) with a role in a space; password from a prompt or stdin."""
        email = email.strip().lower()
        if "@" not in email or len(email) > 254:
            _fail(as_json, f"{email!r} is not an email address")
        with db.transaction() as conn:
            space = _space_or_fail(conn, space_slug, as_json)
            user = auth_store.find_user_by_email(conn, email)
            created = user is None
            if created:
                password = _read_password(password_stdin)
                if not password:
                    _fail(as_json, NO_PASSWORD)
                if len(password) < passwords.MIN_LENGTH:
                    _fail(as_json, f"password must be at least {passwords.MIN_LENGTH} characters")
                user = auth_store.create_user(conn, email, passwords.hash_password(password))
            auth_store.set_membership(conn, space["id"], user["id"], role)
        _emit(as_json, {"user": email, "space": space["slug"], "role": role, "created": created},
              f"{email} is {role} of {space['slug']}" + (" (new user)" if created else ""))

    @user_group.command("reset-password")
    @click.argument("email")
    @click.option("--password-stdin", is_flag=True, help="Read the new password from standard input.")
    @click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
    def reset_password_command(email: str, password_stdin: bool, as_json: bool):
        """Set a user's new password (prompt, or stdin for scripts) and end every open session of theirs."""
        email = email.strip().lower()
        with db.connection() as conn:
            known = auth_store.find_user_by_email(conn, email) is not None
        if not known:
            _fail(as_json, f"no user with email {email!r}; `flask --app wsgi user create` adds one")
        password = _read_password(password_stdin)
        if not password:
            _fail(as_json, NO_PASSWORD)
        if len(password) < passwords.MIN_LENGTH:
            _fail(as_json, f"password must be at least {passwords.MIN_LENGTH} characters")
        with db.transaction() as conn:
            user = auth_store.find_user_by_email(conn, email)
            if user is None:
                _fail(as_json, f"no user with email {email!r}")
            auth_store.set_password(conn, user["id"], passwords.hash_password(password))
            ended = web_store.delete_user_sessions(conn, user["id"])
        _emit(as_json, {"email": user["email"], "reset": True},
              f"password of {user['email']} reset; {ended} open session(s) ended")

    @app.cli.command("bootstrap")
    @click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
    def bootstrap_command(as_json: bool):
        """Migrate, and on first run create the demo space and an admin login (printed once)."""
        with db.connection() as conn:
            db.migrate(conn)
        with db.transaction() as conn:
            conn.execute("SELECT pg_advisory_xact_lock(hashtext('xtracker:bootstrap'))")
            if conn.execute("SELECT 1 FROM users LIMIT 1").fetchone():
                _emit(as_json, {"created": False}, "XTRACKER is set up (existing data kept).")
                return
            space = space_store.create_space(conn, "Demo")
            keys = _mint_keys(conn, space["id"], auth_store.KINDS, rotate=False)
            password = secrets.token_urlsafe(12)
            user = auth_store.create_user(conn, "admin@xtracker.local", passwords.hash_password(password))
            auth_store.set_membership(conn, space["id"], user["id"], "admin")
            base = current_app.config["PUBLIC_URL"]
            link = _create_demo_link(conn, space["id"], base)
        payload = {"created": True, "space": space["slug"], "email": user["email"], "password": password,
                   "login_url": f"{base}/login", "bearer": keys["bearer"], "ingest_token": keys["ingest"],
                   "demo_link": f"{base}/{link.slug}"}
        _emit(as_json, payload, "\n".join([
            "", "XTRACKER first run: a demo space and an admin login were created.",
            f"  login:        {payload['login_url']}",
            f"  email:        {payload['email']}",
            f"  password:     {password}",
            f"  space:        {space['slug']}",
            f"  bearer:       {keys['bearer']}",
            f"  ingest token: {keys['ingest']}",
            f"  demo link:    {payload['demo_link']}",
            "These are shown once; store them now. Try:",
            f"  curl -X POST {base}/events -H 'Authorization: Bearer {keys['bearer']}'"
            " -H 'Content-Type: application/json' -d '{\"event\":\"contact\",\"uid\":\"demo1\"}'", "",
        ]))
