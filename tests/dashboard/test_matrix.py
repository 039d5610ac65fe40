"""The delivery matrix, its drill-down and attempt log, and operator retries."""
import pytest
from rq import SimpleWorker
from werkzeug import Response

from app import close_app, create_app
from app.conversion import wake
from app.delivery import configure
from jobs import QUEUES, queue_connection
from tests.conftest import settings
from tests.dashboard.conftest import csrf_of, html, send_event


@pytest.fixture
def app(servers, clock):
    """The app with local sinks allowed as destinations."""
    application = create_app(settings(servers, CLOCK=clock, ALLOW_PRIVATE_DESTINATIONS=True,
                                      DELIVERY_READ_TIMEOUT=1.0, DELIVERY_CONNECT_TIMEOUT=1.0))
    application.config["TESTING"] = True
    yield application
    close_app(application)


def run_worker(app) -> None:
    """A real RQ SimpleWorker in burst mode until the queues are empty."""
    with app.app_context():
        wake.wake(app, wake.DELIVERY)
        SimpleWorker(QUEUES, connection=queue_connection(app)).work(burst=True, logging_level="WARNING")


class Sink:
    """A webhook receiver whose answer can change between attempts."""

    def __init__(self, httpserver):
        self.status = 500
        httpserver.expect_request("/hook").respond_with_handler(
            lambda request: Response("sink says " + str(self.status), status=self.status))
        self.url = httpserver.url_for("/hook")


@pytest.fixture
def failed(app, client, space, httpserver, clock):
    """A webhook destination whose first attempt of a deposit failed with a 500."""
    sink = Sink(httpserver)
    with app.app_context():
        destination, _ = configure.create_destination(space["id"], "webhook", {"url": sink.url}, name="Hook")
    inbox_id = send_event(client, space, event="deposit", uid="u1", value="20", currency="USD")["inbox_id"]
    run_worker(app)
    return {"destination": destination, "sink": sink, "inbox_id": inbox_id}


def cell_counts(page, destination_id: int, event: str) -> dict:
    cell = page.find(id=f"cell-{destination_id}-{event}")
    return {a["data-status"]: int(a["data-count"]) for a in cell.select("a[data-status]")}


def test_it_counts_deliveries_per_destination_event_and_status(login, space, failed):
    page = html(login().get(f"/spaces/{space['slug']}/partials/matrix?range=today"))
    destination_id = failed["destination"].id
    assert cell_counts(page, destination_id, "deposit") == {"pending": 0, "failed": 1, "delivered": 0, "dead": 0}
    assert cell_counts(page, destination_id, "contact") == {"pending": 0, "failed": 0, "delivered": 0, "dead": 0}


def test_it_opens_a_cell_with_last_error_and_the_attempt_log(login, space, failed, db):
    client = login()
    destination_id = failed["destination"].id
    cell = html(client.get(f"/spaces/{space['slug']}/partials/cell?range=today&destination={destination_id}"
                           "&event=deposit"))
    rows = cell.select("tr[id^=delivery-]")
    assert len(rows) == 1 and rows[0]["data-status"] == "failed"
    assert "500" in rows[0].text
    assert cell.find(id="retry-all") is None, "viewers do not get retry buttons"
    delivery_id = int(rows[0]["id"].split("-")[1])
    log = html(client.get(f"/spaces/{space['slug']}/deliveries/{delivery_id}"))
    assert "sink says 500" in log.select_one(".excerpt.response").text


def test_it_lets_an_operator_retry_a_failed_delivery_until_it_is_delivered(app, login, space, failed):
    operator = login("operator")
    token = csrf_of(operator, space["slug"])
    destination_id = failed["destination"].id
    cell = html(operator.get(f"/spaces/{space['slug']}/partials/cell?range=today&destination={destination_id}"
                             "&event=deposit"))
    assert cell.find(id="retry-all") is not None
    delivery_id = int(cell.select_one("tr[id^=delivery-]")["id"].split("-")[1])
    failed["sink"].status = 200
    answer = operator.post(f"/spaces/{space['slug']}/deliveries/{delivery_id}/retry", headers={"X-CSRF-Token": token})
    assert answer.status_code == 200 and "retry requested" in answer.get_data(as_text=True)
    run_worker(app)
    page = html(operator.get(f"/spaces/{space['slug']}/partials/matrix?range=today"))
    assert cell_counts(page, destination_id, "deposit")["delivered"] == 1


def test_it_retries_every_failed_delivery_of_a_cell(app, client, login, space, failed):
    send_event(client, space, event="deposit", uid="u2", value="5", currency="USD")
    run_worker(app)
    operator = login("operator")
    token = csrf_of(operator, space["slug"])
    failed["sink"].status = 200
    answer = operator.post(f"/spaces/{space['slug']}/matrix/retry?range=today",
                           data={"destination": failed["destination"].id, "event": "deposit"},
                           headers={"X-CSRF-Token": token})
    assert "2 deliveries queued for retry" in answer.get_data(as_text=True)
    run_worker(app)
    page = html(operator.get(f"/spaces/{space['slug']}/partials/matrix?range=today"))
    assert cell_counts(page, failed["destination"].id, "deposit")["delivered"] == 2


def test_it_refuses_retries_from_viewers_and_without_csrf(login, space, failed):
    viewer = login("viewer")
    token = csrf_of(viewer, space["slug"])
    path = f"/spaces/{space['slug']}/matrix/retry?range=today"
    body = {"destination": failed["destination"].id, "event": "deposit"}
    assert viewer.post(path, data=body, headers={"X-CSRF-Token": token}).status_code == 403
    operator = login("operator")
    assert operator.post(path, data=body).status_code == 403
    assert operator.post(path, data={**body, "event": "signup"},
                         headers={"X-CSRF-Token": csrf_of(operator, space["slug"])}).status_code == 400


def test_it_checks_ownership(app, login, space, other_space, failed):
    intruder = login("admin", other_space)
    token = csrf_of(intruder, other_space["slug"])
    destination_id = failed["destination"].id
    with app.app_context():
        from app import db
        with db.connection() as conn:
            delivery_id = conn.execute("SELECT id FROM deliveries WHERE space_id = %s", (space["id"],)).fetchone()["id"]
    base = f"/spaces/{other_space['slug']}"
    assert intruder.get(f"{base}/deliveries/{delivery_id}").status_code == 404
    assert intruder.get(f"{base}/partials/cell?destination={destination_id}&event=deposit").status_code == 404
    assert intruder.post(f"{base}/deliveries/{delivery_id}/retry", headers={"X-CSRF-Token": token}).status_code == 404
    assert intruder.post(f"{base}/matrix/retry", data={"destination": destination_id, "event": "deposit"},
                         headers={"X-CSRF-Token": token}).status_code == 404
    assert intruder.get(f"/spaces/{space['slug']}/partials/matrix").status_code == 404
