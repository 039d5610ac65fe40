"""Landings against gunicorn started as the Procfile says: many at once, then bind and events on their uids."""
import asyncio
import re
import uuid
from urllib.parse import urlsplit

import httpx

from tests.conftest import bearer
from tests.landing.landing_helpers import BROWSER_UA, clicks, make_link

UID_IN_PAGE = re.compile(rb"start=fb_([A-Za-z0-9_-]+)")
TELEGRAM_START = re.compile(r"[A-Za-z0-9_-]{1,64}")


async def _fetch_many(url: str, paths: list[str], connections: int) -> list[tuple[int, bytes]]:
    """GET every path over `connections` keep-alive connections at once; return (status, body) per path, in order.

    A minimal HTTP/1.1 client: httpx's own per-request overhead would make the client, not the
    server, the bottleneck of ten thousand requests on two cores.
    """
    parts = urlsplit(url)
    results: list[tuple[int, bytes] | None] = [None] * len(paths)
    queue: asyncio.Queue[int] = asyncio.Queue()
    for index in range(len(paths)):
        queue.put_nowait(index)

    async def worker():
        reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
        try:
            while not queue.empty():
                index = queue.get_nowait()
                # Each request is another visitor, at its own address as the trusted proxy reports it
                # (one address would meet LANDING_RATE_LIMIT, as a flood from one visitor should).
                address = f"10.{index // 65536}.{index // 256 % 256}.{index % 256}"
                writer.write((f"GET {paths[index]} HTTP/1.1\r\nHost: {parts.netloc}\r\nUser-Agent: {BROWSER_UA}\r\n"
                              f"X-Forwarded-For: {address}\r\nConnection: keep-alive\r\n\r\n").encode())
                head = await reader.readuntil(b"\r\n\r\n")
                status = int(head.split(b" ", 2)[1])
                length = int(re.search(rb"(?i)content-length: *(\d+)", head).group(1))
                results[index] = (status, await reader.readexactly(length))
        finally:
            writer.close()

    await asyncio.gather(*(worker() for _ in range(connections)))
    return results


def test_ten_thousand_concurrent_landings_mint_ten_thousand_telegram_safe_uids(app, space, db, live_server):
    slug = "live-" + uuid.uuid4().hex[:8]
    make_link(app, space, slug)
    fbclids = [f"IwAR{i:05d}-Mixed_CASE-{uuid.uuid4().hex[:6].upper()}_x" for i in range(10_000)]
    results = asyncio.run(_fetch_many(live_server.url, [f"/{slug}?fbclid={f}" for f in fbclids], connections=200))
    assert {status for status, _ in results} == {200}
    page_uids = [UID_IN_PAGE.search(body).group(1).decode() for _, body in results]
    assert len(set(page_uids)) == 10_000
    rows = db.execute("SELECT uid, fbclid, fbc FROM clicks WHERE space_id = %s", (space["id"],)).fetchall()
    assert len(rows) == 10_000
    by_fbclid = {row["fbclid"]: row for row in rows}
    for fbclid, uid in zip(fbclids, page_uids):
        row = by_fbclid[fbclid]
        assert row["uid"] == uid
        assert TELEGRAM_START.fullmatch("fb_" + uid)
        assert re.fullmatch(r"fb\.1\.\d{13}\." + re.escape(fbclid), row["fbc"])
    contacts = db.execute("SELECT count(DISTINCT uid) AS n FROM events WHERE event = 'contact' AND source = 'landing'"
                          " AND space_id = %s", (space["id"],)).fetchone()
    assert contacts["n"] == 10_000


def test_a_landing_uid_is_accepted_by_bind_and_events(app, space, db, live_server):
    slug = "live-" + uuid.uuid4().hex[:8]
    make_link(app, space, slug)
    with httpx.Client(base_url=live_server.url, headers={"User-Agent": BROWSER_UA}) as browser:
        page = browser.get(f"/{slug}?fbclid=AbC-_dEf", headers={"CF-IPCountry": "NL"})
        uid = UID_IN_PAGE.search(page.content).group(1).decode()
        assert browser.get(f"/{slug}").content.count(uid.encode()) >= 1  # the reuse cookie brings the same uid
    r = httpx.post(live_server.url + "/bind", json={"uid": uid, "tg_id": 555123}, headers=bearer(space))
    assert r.status_code == 200 and r.json() == {"ok": True, "matched": True}
    r = httpx.post(live_server.url + "/events", json={"event": "deposit", "uid": uid, "value": "25", "eid": "tx-1"},
                   headers=bearer(space))
    assert r.json()["status"] == "queued"
    [click] = clicks(db)
    assert click["country"] == "NL" and click["fbclid"] == "AbC-_dEf"
    journey = db.execute("SELECT tg_id, clicked_at, contact_at, deposit_at FROM journeys WHERE uid = %s",
                         (uid,)).fetchone()
    assert journey["tg_id"] == 555123 and all(journey[k] for k in ("clicked_at", "contact_at", "deposit_at"))


def test_live_bots_mint_nothing_and_other_spaces_domains_stay_apart(app, space, other_space, db, live_server):
    slug = "live-" + uuid.uuid4().hex[:8]
    make_link(app, space, slug)
    preview = httpx.get(f"{live_server.url}/{slug}", headers={"User-Agent": "TelegramBot (like TwitterBot)"})
    assert preview.status_code == 200 and b"start=fb_" not in preview.content
    stranger = httpx.get(f"{live_server.url}/{slug}", headers={"User-Agent": BROWSER_UA, "Host": "evil.example"})
    assert stranger.status_code == 404
    assert clicks(db) == []
