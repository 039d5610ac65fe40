"""Creating a space (/spaces/new) and its settings screen (/spaces/<space>/settings)."""
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from app.lib import clock as clock_lib
from tests.setup.conftest import csrf_of, html, send_event


def new_space_token(client) -> str:
    """The CSRF token as the create form carries it."""
    return html(client.get("/spaces/new")).select_one("#new-space-form input[name=csrf_token]")["value"]


def create(client, **fields):
    body = {"name": "Spring Offer", "time_zone": "Europe/Berlin", "currency": "EUR", **fields}
    return client.post("/spaces/new", data={"csrf_token": new_space_token(client), **body})


def settings_url(space: dict) -> str:
    return f"/spaces/{space['slug']}/settings"


def save(client, space: dict, **fields):
    body = {"name": space["name"], "time_zone": space["time_zone"], "currency": space["currency"], **fields}
    return client.post(settings_url(space), data={"csrf_token": csrf_of(client, space["slug"]), **body})


# Creating a space

def test_it_shows_the_create_form_without_space_tabs(login):
    page = html(login("viewer").get("/spaces/new"))
    assert page.select_one("#new-space-form") is not None
    assert page.select_one("#space-tabs") is None
    assert page.select_one("#f-time_zone")["value"] == "UTC"
    assert page.select_one("#f-currency")["value"] == "USD"
    assert page.select_one("#time-zones option[value='Asia/Kolkata']") is not None


def test_it_links_to_the_create_form_from_the_space_list(app, client):
    from tests.setup.conftest import make_user, sign_in
    make_user(app, "loner@example.com", [])
    sign_in(client, "loner@example.com")
    for path in ("/", "/spaces/"):
        link = html(client.get(path)).select_one("#create-space-link")
        assert link["href"] == "/spaces/new"


def test_it_creates_a_complete_space_with_the_creator_as_admin(login, db):
    client = login("viewer")
    response = create(client, name="Spring Offer", currency="eur")
    assert response.status_code == 302
    space = db.execute("SELECT id, slug, name, time_zone, currency FROM spaces WHERE name = 'Spring Offer'").fetchone()
    assert response.headers["Location"] == f"/spaces/{space['slug']}/keys/?done=space_created"
    assert (space["slug"], space["time_zone"], space["currency"]) == ("spring-offer", "Europe/Berlin", "EUR")
    keys = db.execute("SELECT kind FROM api_keys WHERE space_id = %s AND expires_at IS NULL ORDER BY kind",
                      (space["id"],)).fetchall()
    assert [k["kind"] for k in keys] == ["bearer", "ingest"]
    member = db.execute("SELECT user_id, role FROM memberships WHERE space_id = %s", (space["id"],)).fetchall()
    assert member == [{"user_id": client.user["id"], "role": "admin"}]
    deck = client.get(f"/spaces/{space['slug']}/")
    assert deck.status_code == 200


def test_it_gives_a_taken_name_the_next_free_slug_and_never_the_reserved_new(login, db, space):
    client = login("viewer")
    assert create(client, name=space["name"]).headers["Location"].startswith(f"/spaces/{space['slug']}-2/")
    assert create(client, name="New").headers["Location"].startswith("/spaces/new-2/")


@pytest.mark.parametrize("fields, field, message", [
    ({"name": "   "}, "name", "Enter a name."),
    ({"name": "x" * 201}, "name", "At most 200 characters."),
    ({"time_zone": "Mars/Olympus_Mons"}, "time_zone", "IANA time zone"),
    ({"time_zone": "../../etc/passwd"}, "time_zone", "IANA time zone"),
    ({"currency": "EURO"}, "currency", "ISO 4217"),
    ({"currency": ""}, "currency", "ISO 4217"),
])
def test_it_re_renders_the_create_form_with_the_values_and_the_error(login, db, fields, field, message):
    client = login("viewer")
    body = {"name": "Spring Offer", "time_zone": "Europe/Berlin", "currency": "EUR", **fields}
    response = create(client, **body)
    assert response.status_code == 400
    page = html(response)
    assert message in page.select_one(f"#e-{field}").text
    for name, value in body.items():
        assert page.select_one(f"#f-{name}")["value"] == value
    assert db.execute("SELECT count(*) AS n FROM spaces WHERE name = 'Spring Offer'").fetchone()["n"] == 0


def test_it_refuses_to_create_without_the_csrf_token(login, db):
    client = login("viewer")
    response = client.post("/spaces/new", data={"name": "Spring Offer", "time_zone": "UTC", "currency": "USD"})
    assert response.status_code == 403
    assert db.execute("SELECT count(*) AS n FROM spaces WHERE name = 'Spring Offer'").fetchone()["n"] == 0


def test_it_sends_anonymous_visitors_to_login_from_the_create_form(client, db):
    assert client.get("/spaces/new").headers["Location"].startswith("/login?next=")
    response = client.post("/spaces/new", data={"name": "Spring Offer", "time_zone": "UTC", "currency": "USD"})
    assert response.status_code == 302 and response.headers["Location"].startswith("/login")
    assert db.execute("SELECT count(*) AS n FROM spaces").fetchone()["n"] == 0


# Settings

def test_it_shows_settings_read_only_to_viewers_and_operators(login, space):
    for role in ("viewer", "operator"):
        page = html(login(role).get(settings_url(space)))
        assert page.select_one("#tab-settings")["class"] == ["active"]
        assert page.select_one("#f-name")["value"] == space["name"]
        assert page.select_one("#f-name").has_attr("disabled")
        assert page.select_one("#f-slug")["value"] == space["slug"]
        assert page.select_one("#save-settings") is None
        assert page.select_one("#read-only") is not None


def test_it_saves_name_and_currency_and_keeps_the_slug(login, db, space):
    admin = login("admin")
    response = save(admin, space, name="Renamed Funnel", currency="gbp")
    assert response.status_code == 302
    assert response.headers["Location"] == f"/spaces/{space['slug']}/settings?done=saved"
    row = db.execute("SELECT slug, name, currency FROM spaces WHERE id = %s", (space["id"],)).fetchone()
    assert row == {"slug": space["slug"], "name": "Renamed Funnel", "currency": "GBP"}
    page = html(admin.get(response.headers["Location"]))
    assert page.select_one("#notice").text == "Settings saved."
    assert page.select_one("#f-name")["value"] == "Renamed Funnel"
    assert page.select_one("#space-switcher summary").text.startswith("Renamed Funnel")


def test_it_re_renders_settings_with_the_values_and_the_error(login, db, space):
    admin = login("admin")
    response = save(admin, space, name="", time_zone="Europe/Nowhere", currency="US")
    assert response.status_code == 400
    page = html(response)
    for field, value in (("name", ""), ("time_zone", "Europe/Nowhere"), ("currency", "US")):
        assert page.select_one(f"#f-{field}")["value"] == value
        assert page.select_one(f"#e-{field}") is not None
    row = db.execute("SELECT name, time_zone, currency FROM spaces WHERE id = %s", (space["id"],)).fetchone()
    assert row == {"name": space["name"], "time_zone": space["time_zone"], "currency": space["currency"]}


def test_it_refuses_settings_changes_below_admin(login, db, space):
    for role in ("viewer", "operator"):
        assert save(login(role), space, name="Hijacked").status_code == 403
    assert db.execute("SELECT name FROM spaces WHERE id = %s", (space["id"],)).fetchone()["name"] == space["name"]


def test_it_checks_ownership(login, db, space, other_space):
    outsider = login("admin", in_space=other_space)
    assert outsider.get(settings_url(space)).status_code == 404
    token = csrf_of(outsider, other_space["slug"])
    response = outsider.post(settings_url(space), data={"csrf_token": token, "name": "Hijacked",
                                                        "time_zone": "UTC", "currency": "USD"})
    assert response.status_code == 404
    assert db.execute("SELECT name FROM spaces WHERE id = %s", (space["id"],)).fetchone()["name"] == space["name"]


def test_it_refuses_a_settings_post_without_the_csrf_token(login, db, space):
    response = login("admin").post(settings_url(space), data={"name": "Hijacked", "time_zone": "UTC",
                                                               "currency": "USD"})
    assert response.status_code == 403
    assert db.execute("SELECT name FROM spaces WHERE id = %s", (space["id"],)).fetchone()["name"] == space["name"]


def test_it_sends_anonymous_visitors_to_login_from_settings(client, space):
    assert client.get(settings_url(space)).headers["Location"].startswith("/login?next=")
    response = client.post(settings_url(space), data={"name": "x", "time_zone": "UTC", "currency": "USD"})
    assert response.status_code == 302 and response.headers["Location"].startswith("/login")


def funnel_contacts(client, space: dict, preset: str) -> int:
    page = html(client.get(f"/spaces/{space['slug']}/partials/funnel?range={preset}"))
    return int(page.find(id="funnel-contact")["data-count"])


def expected_contacts(moments: list[datetime], zone: str, now: datetime) -> dict:
    local_today = now.astimezone(ZoneInfo(zone)).date()
    days = [m.astimezone(ZoneInfo(zone)).date() for m in moments]
    return {"today": days.count(local_today), "yesterday": days.count(local_today - timedelta(days=1))}


def test_it_recomputes_the_deck_days_when_the_time_zone_changes(app, client, login, db, space, clock):
    # One contact per hour over the last two days: "today" and "yesterday" cut this series at
    # different hours in UTC and in Asia/Kolkata (+05:30).
    now = clock.now
    moments = [now - timedelta(hours=h, minutes=1) for h in range(48)]
    for n, moment in enumerate(moments):
        send_event(client, space, event="contact", uid=f"hourly-{n}", occurred_at_ms=clock_lib.to_ms(moment))
    admin = login("admin")
    before = expected_contacts(moments, "UTC", now)
    # Reading the deck folds the rollups by UTC days.
    assert {p: funnel_contacts(admin, space, p) for p in before} == before
    response = save(admin, space, time_zone="Asia/Kolkata")
    assert response.headers["Location"].endswith("done=rebuilt")
    # The fold lock held during the rebuild was released (else the next deck read would wait forever).
    assert db.execute("SELECT pg_try_advisory_lock(hashtextextended('xt:fold:' || %s, 0)) AS free",
                      (space["id"],)).fetchone()["free"]
    db.execute("SELECT pg_advisory_unlock(hashtextextended('xt:fold:' || %s, 0))", (space["id"],))
    after = expected_contacts(moments, "Asia/Kolkata", now)
    assert after != before
    assert {p: funnel_contacts(admin, space, p) for p in after} == after
    # The rollups equal a rebuild from the base tables, and later events land on Kolkata days.
    send_event(client, space, event="contact", uid="after-change", occurred_at_ms=clock_lib.to_ms(now))
    assert funnel_contacts(admin, space, "today") == after["today"] + 1
    folded = db.execute("SELECT link_slug, day, kind, currency, n, amount FROM rollup_days WHERE space_id = %s"
                        " AND n <> 0 ORDER BY 1, 2, 3, 4", (space["id"],)).fetchall()
    db.execute("SELECT deck_rebuild(%s)", (space["id"],))
    rebuilt = db.execute("SELECT link_slug, day, kind, currency, n, amount FROM rollup_days WHERE space_id = %s"
                         " AND n <> 0 ORDER BY 1, 2, 3, 4", (space["id"],)).fetchall()
    assert folded == rebuilt


def test_it_leaves_the_rollups_alone_when_the_time_zone_stays(login, client, db, space, clock):
    send_event(client, space, event="contact", uid="one", occurred_at_ms=clock_lib.to_ms(clock.now))
    admin = login("admin")
    assert funnel_contacts(admin, space, "today") == 1
    response = save(admin, space, name="Same Zone")
    assert response.headers["Location"].endswith("done=saved")
    assert funnel_contacts(admin, space, "today") == 1
