"""Rate limits, fixed windows counted across processes in Redis (docs/security.md#rate-limits).

- Ingress (`ingress` blueprint): INGEST_RATE_LIMIT per credential (the digest of the bearer secret
  or ingest token, never the secret itself), and AUTH_FAILURE_RATE_LIMIT on 401 answers per client
  address: a flood of wrong tokens is refused with 429 before it costs a lookup.
- Landings: LANDING_RATE_LIMIT per client address and link, on visits that would record a click.
  Beyond it the visitor is still sent on, without a uid: a person is never stranded, a flood mints
  no clicks, contact events or deliveries.
- Sign-in and invitation forms: LOGIN_RATE_LIMIT per client address.

Client addresses are the ones the trusted proxies report (TRUSTED_PROXIES). The counters
(app/auth/counters.py) decide from local figures synced with Redis in batches, so a request costs
no Redis round trip unless it is near its limit. They fail open: while Redis cannot be reached no
request is refused and nothing is counted; Redis is tried again with backoff (1 s doubling to 32 s).

The checks are plain functions of the current request, so a handler mounted before Flask's
routing answers limits exactly as the app-wide hooks do.
"""
import math
import time
from typing import Callable

import redis
from flask import Flask, Response, current_app, g, jsonify, request
from limits import parse_many
from redis.backoff import NoBackoff
from redis.retry import Retry

from app import services
from app.auth import credentials
from app.auth.counters import Counters, Rate, Verdict
from app.lib import proxies, tokens

LIMITED_FORMS = frozenset({"web.login", "invitations.accept_invitation"})
MESSAGES = {
    "ingress": "too many requests for this credential",
    "auth-failures": "too many requests with a wrong or missing credential from this address",
    "login-forms": "too many sign-in attempts from this address",
}


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


def rates(setting: str) -> tuple[Rate, ...]:
    """The rates of a limit setting (`10/second;1000/hour`), none when it is `off`; parsed once per text."""
    text = current_app.config[setting]
    cache = services.of(current_app).limit_rates
    found = cache.get(text)
    if found is None:
        found = cache[text] = tuple(Rate(item.amount, int(item.get_expiry())) for item in parse_many(text)) \
            if text else ()
    return found


def _counters() -> Counters:
    return services.of(current_app).counters


def check_ingress() -> Response | None:
    """Before an ingress request: the 429 when this address sent too many wrong credentials or this
    credential too many requests; None to go on (counts the request against the credential)."""
    failures = rates("AUTH_FAILURE_RATE_LIMIT")
    if failures and not credentials.recently_verified(request_secret()):
        verdict = _counters().test("auth-failures", client_address(), failures)
        if verdict is not None:
            return refusal("auth-failures", verdict)
    per_credential = rates("INGEST_RATE_LIMIT")
    if per_credential:
        verdict = _counters().hit("ingress", credential_key(), per_credential)
        if verdict is not None:
            return refusal("ingress", verdict)
    return None


def count_ingress_answer(response: Response) -> Response:
    """After an ingress request: a 401 counts against the address's wrong-credential limit."""
    if response.status_code == 401:
        failures = rates("AUTH_FAILURE_RATE_LIMIT")
        if failures and not credentials.recently_verified(request_secret()):
            _counters().add("auth-failures", client_address(), failures)
    return response


def landing_allows_click() -> bool:
    """Whether this visit may record a click (counting it), under LANDING_RATE_LIMIT."""
    per_visitor = rates("LANDING_RATE_LIMIT")
    return not per_visitor or _counters().hit("landing", landing_key(), per_visitor) is None


def check_login_form() -> Verdict | None:
    """Before a sign-in or invitation form post: the breach of LOGIN_RATE_LIMIT, else None."""
    per_address = rates("LOGIN_RATE_LIMIT")
    return _counters().hit("login-forms", client_address(), per_address) if per_address else None


def install(app: Flask, *, is_a_visit: Callable[[], bool], send_on_without_click: Callable[[str], Response],
            render_login_refusal: Callable[[str], Response]) -> Counters:
    """Attach the counters and the limits to `app` (after every blueprint is registered).

    The landing and the sign-in page hand in how they tell a visit and answer a breach, so this
    package never imports the packages it limits. The hooks are app-wide and registered last, so
    they run after host routing and text checks and before any blueprint's own hooks.
    """
    # The counters' own client: short timeouts and no retries, so an absent Redis costs nothing.
    client = redis.Redis.from_url(app.config["REDIS_URL"], socket_connect_timeout=0.25, socket_timeout=0.25,
                                  retry=Retry(NoBackoff(), 0))
    counters = Counters(client, "xt:rl")
    found = services.of(app)
    found.counters = counters

    @app.before_request
    def apply_limits():
        blueprint = request.blueprint
        if blueprint == "ingress":
            return check_ingress()
        if blueprint == "landing":
            if is_a_visit() and not landing_allows_click():
                return send_on_without_click((request.view_args or {}).get("slug", ""))
            return None
        if request.method == "POST" and request.endpoint in LIMITED_FORMS:
            verdict = check_login_form()
            if verdict is not None:
                seconds = retry_after(verdict)
                response = render_login_refusal(
                    f"Too many sign-in attempts from your address. Try again in {seconds} seconds.")
                response.status_code = 429
                response.headers["Retry-After"] = str(seconds)
                return response
        return None

    @app.after_request
    def count_answers(response: Response) -> Response:
        if request.blueprint == "ingress":
            return count_ingress_answer(response)
        return response
    return counters


def retry_after(verdict: Verdict) -> int:
    """Whole seconds until the breached limit's window resets, between 1 and the window's length."""
    return min(verdict.rate.seconds, max(1, math.ceil(verdict.reset_at - time.time())))


def refusal(scope: str, verdict: Verdict) -> Response:
    """The API's 429: the JSON error with `retry_after` and the Retry-After header."""
    seconds = retry_after(verdict)
    response = jsonify(ok=False, status="rate_limited", error=MESSAGES[scope], retry_after=seconds)
    response.status_code = 429
    response.headers["Retry-After"] = str(seconds)
    return response
