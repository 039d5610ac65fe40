"""Deck benchmark: the 30-day deck and each partial on a year of history, next to the same on a small space.

Usage: .venv-test/bin/python bench/dashboard.py [--clicks 1000000] [--events 10000000] [--runs 15]

1. Starts a private PostgreSQL (fsync off) and Redis in a temp dir and migrates (bench/history.py).
2. Generates two spaces with bench/history.py (set-based SQL, triggers off, then the product's rollup
   rebuilds: deck_rebuild, delivery_matrix_rebuild, report_rebuild): "big": --clicks clicks over 365 days on 12 links and 40 countries, journeys, about
   --events events (repeat contacts, subscriptions, registrations, repeat deposits in USD and EUR)
   and deliveries to two destinations; "small": the same shape with 10K events.
3. Signs in a viewer of each and times, server-side (in-process request → response), the whole
   deck and every partial for "last 30 days": median and p95 of --runs runs after a warm-up.
4. Prints both columns, the ratio big/small and the load average; writes bench/results/dashboard.json.

Targets: the 30-day deck < 150 ms at 10M events, and t(10M) / t(10K) <= 3.
"""
import argparse
import re
import sys
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from app import db as app_db  # noqa: E402
from app.auth import store as auth_store  # noqa: E402
from app.lib import passwords  # noqa: E402
from bench.harness import save  # noqa: E402
from bench.history import Bench, load_average, print_ratios, time_path  # noqa: E402

PASSWORD = "bench password 123"
PARTIALS = ("funnel", "gauge", "revenue", "map", "attribution", "feed", "matrix")


def login(app, email: str):
    client = app.test_client()
    page = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    assert client.post("/login", data={"email": email, "password": PASSWORD, "csrf_token": token}).status_code == 302
    return client


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clicks", type=int, default=1_000_000)
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    with Bench("dashboard") as bench:
        generated = bench.fill({"small": (1_000, 10_000), "big": (args.clicks, args.events)},
                               datetime.now(timezone.utc))
        with bench.app.app_context():
            with app_db.transaction() as conn:
                user = auth_store.create_user(conn, "viewer@bench.local", passwords.hash_password(PASSWORD))
                for space in bench.spaces.values():
                    auth_store.set_membership(conn, space["id"], user["id"], "viewer")
        client = login(bench.app, "viewer@bench.local")
        results: dict[str, dict] = {}
        loads = [load_average()]
        for name, space in bench.spaces.items():
            paths = {"deck": f"/spaces/{space['slug']}/?range=30d"}
            paths.update({p: f"/spaces/{space['slug']}/partials/{p}?range=30d" for p in PARTIALS})
            results[name] = {label: time_path(client, path, args.runs) for label, path in paths.items()}
            loads.append(load_average())
        print_ratios(results, f"30-day views, server-side ms (median / p95 of {args.runs}); small = "
                              f"{generated['small']['events']:,} events, big = {generated['big']['events']:,} events;"
                              f" load average before / after small / after big: {' | '.join(loads)}")
        deck_big = results["big"]["deck"]["median_ms"]
        deck_ratio = deck_big / results["small"]["deck"]["median_ms"]
        print(f"\ndeck at {generated['big']['events']:,} events: {deck_big:.1f} ms (target < 150 ms: "
              f"{'met' if deck_big < 150 else 'MISSED'}); big/small {deck_ratio:.2f} (target <= 3: "
              f"{'met' if deck_ratio <= 3 else 'MISSED'})")
        save("dashboard", {"generated": generated, "results": results, "load_average": loads})
    return 0


if __name__ == "__main__":
    sys.exit(main())
