"""S2S postbacks: macros expanded and URL-encoded, method, expected status, unknown macros refused."""
import pytest

from app.delivery.destinations import DestinationError
from tests.delivery.conftest import add_click, deliveries, make_destination, run_worker, send_event

TEMPLATE = ("/pb?u={uid}&e={event}&n={event_name}&v={value}&c={currency}&eid={eid}&t={occurred_at}"
            "&tms={occurred_at_ms}&tg={tg_id}&slug={link_slug}&fbclid={fbclid}&camp={campaign_name}"
            "&src={utm_source}&med={utm_medium}&cmp={utm_campaign}&cnt={utm_content}&term={utm_term}"
            "&cc={country}&id={event_id}&inbox={inbox_id}")


def test_it_expands_every_macro_url_encoded(app, client, space, db, httpserver, clock):
    destination, _ = make_destination(app, space, "postback", url_template=httpserver.url_for("") + TEMPLATE[1:],
                                      event_map={"deposit": "conv"})
    add_click(app, space, "abc", clock.now, link_slug="promo", fbclid="IwAR_Mixed-Case_x", campaign_name="Spring Sale",
              utm_source="fb", utm_medium="cpc", utm_campaign="spring & more/2", utm_content="ad #1",
              utm_term="é", country="DE")
    httpserver.expect_request("/pb", method="GET").respond_with_data("ok")
    inbox_id = send_event(client, space, event="deposit", uid="abc", value="10.000", currency="USD", eid="tx 1+2",
                          occurred_at_ms=clock_ms(clock))

    run_worker(app)
    (request, _), = httpserver.log
    args = request.args
    assert args["u"] == "abc" and args["e"] == "deposit" and args["n"] == "conv"
    assert args["v"] == "10" and args["c"] == "USD" and args["eid"] == "tx 1+2"
    assert args["tms"] == str(clock_ms(clock)) and args["t"] == str(clock_ms(clock) // 1000)
    assert args["tg"] == "" and args["slug"] == "promo" and args["fbclid"] == "IwAR_Mixed-Case_x"
    assert args["camp"] == "Spring Sale" and args["src"] == "fb" and args["med"] == "cpc"
    assert args["cmp"] == "spring & more/2" and args["cnt"] == "ad #1" and args["term"] == "é" and args["cc"] == "DE"
    assert args["id"] == f"xt-{inbox_id}-{destination.id}" and args["inbox"] == str(inbox_id)
    raw = request.query_string.decode()
    assert "eid=tx%201%2B2" in raw and "cmp=spring%20%26%20more%2F2" in raw and "term=%C3%A9" in raw
    (row,) = deliveries(db)
    assert row["status"] == "delivered"


def clock_ms(clock) -> int:
    return int(clock.now.timestamp() * 1000)


def test_it_does_not_deliver_events_its_map_turns_off(app, client, space, db, httpserver):
    make_destination(app, space, "postback", url_template=httpserver.url_for("/pb") + "?e={event_name}",
                     event_map={"deposit": "conv"})
    send_event(client, space, event="registration", uid="abc")
    run_worker(app)
    assert deliveries(db) == [] and httpserver.log == []


def test_it_uses_post_and_the_expected_status(app, client, space, db, httpserver, clock):
    make_destination(app, space, "postback", url_template=httpserver.url_for("/pb") + "?uid={uid}", method="POST",
                     expect_status=201)
    answers = iter([200, 201])
    httpserver.expect_request("/pb", method="POST").respond_with_handler(
        lambda request: __import__("werkzeug").Response("", status=next(answers)))
    send_event(client, space, event="subscribed", uid="abc")

    run_worker(app)
    (row,) = deliveries(db)
    assert (row["status"], row["last_status_code"], row["last_error"]) == ("failed", 200, "HTTP 200")
    clock.advance(seconds=7)
    run_worker(app)
    (row,) = deliveries(db)
    assert (row["status"], row["last_status_code"]) == ("delivered", 201)


@pytest.mark.parametrize("template, message", [
    ("https://partner.example/pb?x={clickid}", "unknown macro {clickid}"),
    ("https://partner.example/pb?x={}", "unknown macro {}"),
    ("ftp://partner.example/pb", "must start with http:// or https://"),
    ("", "url_template is required"),
])
def test_it_refuses_a_bad_template_when_the_destination_is_saved(app, space, db, template, message):
    with pytest.raises(DestinationError, match=message.replace("{", r"\{").replace("}", r"\}")):
        make_destination(app, space, "postback", url_template=template)
    assert db.execute("SELECT count(*) AS n FROM destinations").fetchone()["n"] == 0
