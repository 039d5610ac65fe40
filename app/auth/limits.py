"""Rate limits, counted in Redis with flask-limiter (docs/security.md#rate-limits).

- Ingress (`ingress` blueprint): INGEST_RATE_LIMIT per credential (the digest of the bearer secret
  or ingest token, never the secret itself), and AUTH_FAILURE_RATE_LIMIT on 401 answers per client
  address: a flood of wrong tokens is refused with 429 before it costs a lookup.
- Landings: LANDING_RATE_LIMIT per client address and link, on visits that would record a click.
  Beyond it the visitor is still sent on, without a uid: a person is never stranded, a flood mints
  no clicks, contact events or deliveries.
- Sign-in and invitation forms: LOGIN_RATE_LIMIT per client address.

Client addresses are the ones the trusted proxies report (TRUSTED_PROXIES). The counters fail
open: when Redis cannot be reached, flask-limiter falls back to an in-memory limit that nothing
reaches, so no request is refused because Redis is away, and it probes Redis again with backoff
(1 s doubling to 32 s) before counting there once more.
"""
import math
import time
from typing import Callable

from flask import Flask, Response, current_app, g, jsonify, request
from flask_limiter import Limiter, RateLimitExceeded
from redis.backoff import NoBackoff
from redis.retry import Retry

from app.auth import credentials
from app import services
from app.lib import proxies, tokens

# The in-memory fallback while Redis is away: a limit no process can reach, i.e. fail open.
FAIL_OPEN = "1000000000/second"
LIMITED_FORMS = frozenset({"web.login", "invitations.accept_invitation"})


def client_address() -> str:
    """The client's address as the trusted proxies report it (the TCP peer otherwise), once per request."""
    if "client_address" not in g:
        g.client_address = proxies.client_address(
            request.remote_addr, request.headers, services.of(current_app).proxies) or "unknown"
    return g.client_address


def request_secret() -> str:
    """The bearer secret or ingest token the request carries, or ''."""
    scheme, _, secret = request.headers.get("Authorization", "").partition(" ")
    secret = secret.strip() if scheme.lower() == "bearer" else ""
    return secret or request.args.get("token", "").strip()


def credential_key() -> str:
    """The limit key of the request's credential: a digest of the bearer secret or ingest token."""
    secret = request_secret()
    if not secret:
        return "anonymous:" + client_address()
    return "credential:" + tokens.digest(secret).hex()[:32]


def landing_key() -> str:
    """The limit key of a landing: client address, custom-domain space and link slug."""
    slug = (request.view_args or {}).get("slug", "")
    return f"{client_address()}|{g.get('landing_space_id') or ''}|{slug}"


def _setting(name: str):
    # An `off` setting is exempted by _off; the unreachable rate keeps the limit parseable meanwhile.
    return lambda: current_app.config[name] or FAIL_OPEN


def _off(name: str):
    return lambda: not current_app.config[name]


def install(app: Flask, *, is_a_visit: Callable[[], bool], send_on_without_click: Callable[[str], Response],
            render_login_refusal: Callable[[str], Response]) -> Limiter:
    """Attach the limiter and the limits to `app` (after every blueprint is registered).

    The landing and the sign-in page hand in how they tell a visit and answer a breach, so this
    package never imports the packages it limits.
    """
    url = app.config["REDIS_URL"]
    # limits names Redis over a Unix socket redis+unix://; redis-py says unix://.
    storage_uri = "redis+" + url if url.startswith("unix://") else url
    limiter = Limiter(
        key_func=client_address, app=app, storage_uri=storage_uri,
        storage_options={"socket_connect_timeout": 0.25, "socket_timeout": 0.25, "retry": Retry(NoBackoff(), 0)},
        strategy="fixed-window", key_prefix="xt:rl", headers_enabled=False,
        in_memory_fallback=[FAIL_OPEN], in_memory_fallback_enabled=True, swallow_errors=True)
    bps = app.blueprints
    limiter.limit(_setting("INGEST_RATE_LIMIT"), key_func=credential_key, scope="ingress",
                  exempt_when=_off("INGEST_RATE_LIMIT"),
                  error_message="too many requests for this credential")(bps["ingress"])
    # A credential this process verified moments ago is exempt: wrong tokens from a shared
    # address never refuse the valid integration behind the same address.
    limiter.shared_limit(_setting("AUTH_FAILURE_RATE_LIMIT"), scope="auth-failures", key_func=client_address,
                         exempt_when=lambda: not current_app.config["AUTH_FAILURE_RATE_LIMIT"]
                         or credentials.recently_verified(request_secret()),
                         deduct_when=lambda response: response.status_code == 401,
                         error_message="too many requests with a wrong or missing credential from this address")(
        bps["ingress"])
    limiter.limit(_setting("LANDING_RATE_LIMIT"), key_func=landing_key, scope="landing",
                  exempt_when=lambda: not current_app.config["LANDING_RATE_LIMIT"] or not is_a_visit(),
                  on_breach=lambda limit: send_on_without_click((request.view_args or {}).get("slug", "")))(
        bps["landing"])
    for name in ("web", "invitations"):
        limiter.limit(_setting("LOGIN_RATE_LIMIT"), scope="login-forms", key_func=client_address,
                      methods=["POST"], error_message="too many sign-in attempts from this address",
                      exempt_when=lambda: not current_app.config["LOGIN_RATE_LIMIT"]
                      or request.endpoint not in LIMITED_FORMS)(bps[name])
    services.of(app).limiter = limiter
    app.register_error_handler(RateLimitExceeded, lambda exc: too_many_requests(exc, render_login_refusal))
    return limiter


def retry_after(exc: RateLimitExceeded) -> int:
    """Whole seconds until the breached limit's window resets, between 1 and the window's length."""
    window = max(1, int(exc.limit.limit.get_expiry()))
    try:
        current = services.of(current_app).limiter.current_limit
        if current is not None:
            return min(window, max(1, math.ceil(current.reset_at - time.time())))
    except Exception:  # noqa: BLE001 — the storage may be gone; the window length is a safe answer
        pass
    return window


def too_many_requests(exc: RateLimitExceeded, render_login_refusal: Callable[[str], Response]):
    """429 with Retry-After: the JSON error of the API, the sign-in page's message for forms.

    A landing's breach carries its own response (the visitor sent on without a click).
    """
    if exc.response is not None:
        return exc.response
    seconds = retry_after(exc)
    if request.endpoint in LIMITED_FORMS:
        response = render_login_refusal(f"Too many sign-in attempts from your address. Try again in {seconds} seconds.")
    else:
        response = jsonify(ok=False, status="rate_limited", error=exc.description, retry_after=seconds)
    response.status_code = 429
    response.headers["Retry-After"] = str(seconds)
    return response
