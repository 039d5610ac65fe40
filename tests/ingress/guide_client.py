import httpx, time

TRACKER = "https://xtracker.cc"
BEARER = "<BEARER>" # server-side only

async def send_event(event, *, uid=None, value=None, currency=None, eid=None):
    payload = {"event": event, "occurred_at_ms": int(time.time() * 1000)}
    if uid: payload["uid"] = uid
    if value is not None: payload["value"] = str(value)
    if currency: payload["currency"] = currency
    if eid: payload["eid"] = eid
    async with httpx.AsyncClient(timeout=5) as c:
        r = await c.post(f"{TRACKER}/events", json=payload,
                         headers={"Authorization": f"Bearer {BEARER}"})
    return r.json() # {"ok": true, "status": "queued" | "duplicate"}

async def bind(uid, tg_id):
    async with httpx.AsyncClient(timeout=5) as c:
        r = await c.post(f"{TRACKER}/bind", json={"uid": uid, "tg_id": tg_id},
                         headers={"Authorization": f"Bearer {BEARER}"})
    return r.json()
