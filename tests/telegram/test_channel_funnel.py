"""The whole path: click → per-click invite link → join request → welcome → approve → subscribed → CAPI Lead."""
import json

from tests.delivery.conftest import capi_fields, make_destination
from tests.telegram.conftest import POOL_SIZE, add_channel, cli, connect_bot, post_update, run_worker
from tests.telegram.fake_bot_api import CHANNEL_ID, chat_member_update, join_request_update

GRAPH_PATH = "/graph/v23.0/1234567890/events"
BROWSER = {"User-Agent": "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148"}


def graph_sink(request):
    """Meta's answer: every event of the batch received."""
    from werkzeug.wrappers import Response
    count = len(json.loads(request.get_data())["data"])
    return Response(json.dumps({"events_received": count, "fbtrace_id": "t"}), mimetype="application/json")


def landing_invite(client, slug: str, query: str = "") -> str:
    """Open the landing as a phone browser; return the invite URL it sends the visitor to."""
    response = client.get(f"/{slug}{query}", headers=BROWSER)
    assert response.status_code == 200
    from bs4 import BeautifulSoup
    return BeautifulSoup(response.data, "html.parser").select_one("#open")["href"]


def test_a_click_becomes_a_subscribed_lead_through_its_own_invite_link(app, client, space, db, telegram, httpserver,
                                                                       clock):
    bot = connect_bot(app, telegram, space)
    assert bot["bot"] == "funnel_test_bot" and bot["webhook_url"].startswith("http://localhost:8000/telegram/webhook/")
    hook = telegram.webhooks[str(bot["bot_id"])]
    assert set(hook["allowed_updates"]) >= {"chat_join_request", "chat_member", "my_chat_member", "message"}
    channel = add_channel(app, space)
    assert channel["pool"]["ready"] == POOL_SIZE and channel["auto_approve"] is True
    minted = telegram.called("createChatInviteLink")
    assert all(c["params"]["creates_join_request"] is True for c in minted)
    code, link = cli(app, "link", "create", space["slug"], "--slug", "signals", "--kind", "channel",
                     "--target", str(CHANNEL_ID))
    assert code == 0, link
    make_destination(app, space, "capi", **capi_fields(app, httpserver))
    httpserver.expect_request(GRAPH_PATH, method="POST").respond_with_handler(graph_sink)
    with app.app_context():
        db_invites = db.execute("SELECT uid, invite_link, name FROM telegram_invites WHERE state = 'ready'"
                                " ORDER BY id").fetchall()

    url = landing_invite(client, "signals", "?fbclid=IwAR-test")
    first = db_invites[0]
    assert url == first["invite_link"] and first["name"] == f"xt_{first['uid']}"
    click = db.execute("SELECT uid, link_slug, fbclid FROM clicks").fetchone()
    assert click["uid"] == first["uid"] and click["fbclid"] == "IwAR-test"

    date = int(clock.now.timestamp())
    invite = next(i for i in telegram.invites if i["invite_link"] == url)
    response = post_update(client, bot, join_request_update(9001, 424242, date, invite))
    assert response.status_code == 200 and response.json["status"] == "queued"
    run_worker(app)

    (message,) = telegram.messages if telegram.messages else [None]
    assert message is None  # no drip configured: nothing sent, still approved
    (approval,) = telegram.approvals
    assert approval == {"chat_id": CHANNEL_ID, "user_id": 424242, "at": approval["at"]}
    code, journey = cli(app, "journey", "show", space["slug"], "--", first["uid"])
    assert code == 0, journey
    assert journey["binding"]["tg_id"] == 424242
    events = {e["event"]: e for e in journey["events"]}
    assert events["subscribed"]["eid"] == f"tg-join:{CHANNEL_ID}:424242:{date}"
    assert events["subscribed"]["source"] == "telegram"
    assert events["subscribed"]["status"] == "delivered", json.dumps(events["subscribed"]["deliveries"])
    (lead,) = [e for request, _ in httpserver.log for e in json.loads(request.get_data())["data"]
               if e["event_name"] == "Lead"]
    assert lead["user_data"]["fbc"].endswith(".IwAR-test")
    assert journey["telegram"]["join_requests"][0]["decision"] == "approved"

    # Telegram then reports the approved member joining through the same link.
    post_update(client, bot, chat_member_update(9002, 424242, date + 1, "left", "member", invite))
    run_worker(app)
    code, journey = cli(app, "journey", "show", space["slug"], "--", first["uid"])
    assert [m["kind"] for m in journey["telegram"]["membership"]] == ["join"]
