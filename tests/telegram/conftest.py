"""Telegram fixtures: the fake Bot API over real HTTP, an app pointed at it, a connected bot and channel."""
import json

import pytest
from rq import SimpleWorker

from app import close_app, create_app
from jobs import QUEUES, queue_connection
from app.conversion import wake
from tests.conftest import settings
from tests.telegram.fake_bot_api import BOT_ID, BOT_TOKEN, CHANNEL_ID, FakeBotApi

POOL_SIZE = 5


@pytest.fixture
def telegram():
    """A fake Bot API server on 127.0.0.1 for this test."""
    fake = FakeBotApi().start()
    yield fake
    fake.stop()


@pytest.fixture
def app(servers, clock, telegram):
    """The app against the fake Bot API, with local CAPI sinks allowed and a small invite pool."""
    application = create_app(settings(servers, CLOCK=clock, TELEGRAM_API_BASE_URL=telegram.url,
                                      TELEGRAM_POOL_SIZE=POOL_SIZE, ALLOW_PRIVATE_DESTINATIONS=True,
                                      DELIVERY_READ_TIMEOUT=1.0, DELIVERY_CONNECT_TIMEOUT=1.0,
                                      DELIVERY_CONCURRENCY=4, CAPI_CLICK_WAIT_SECONDS=0))
    application.config["TESTING"] = True
    yield application
    close_app(application)


def cli(app, *args, input: str | None = None) -> tuple[int, dict]:
    """Run `flask --app wsgi ARGS --json`; return (exit code, parsed JSON)."""
    args = list(args)
    args.insert(args.index("--") if "--" in args else len(args), "--json")  # options before a `--`
    result = app.test_cli_runner().invoke(args=args, input=input)
    return result.exit_code, json.loads(result.output.strip().splitlines()[-1])


def connect_bot(app, telegram, space: dict) -> dict:
    """`telegram connect` the fake bot to the space; return the JSON and the secret Telegram was given."""
    code, out = cli(app, "telegram", "connect", space["slug"], "--bot-token-stdin", input=BOT_TOKEN + "\n")
    assert code == 0, out
    out["secret_token"] = telegram.webhooks[str(BOT_ID)]["secret_token"]
    out["path"] = out["webhook_url"].split("://", 1)[1].split("/", 1)[1]
    return out


def add_channel(app, space: dict, chat: str = str(CHANNEL_ID)) -> dict:
    code, out = cli(app, "telegram", "channel", "add", space["slug"], chat)
    assert code == 0, out
    return out


def post_update(client, bot: dict, update: dict, secret: str | None = "same"):
    """POST an update to the webhook as Telegram does (secret header unless None)."""
    headers = {"Content-Type": "application/json"}
    if secret is not None:
        headers["X-Telegram-Bot-Api-Secret-Token"] = bot["secret_token"] if secret == "same" else secret
    return client.post("/" + bot["path"], data=json.dumps(update), headers=headers)


def run_worker(app) -> None:
    """Wake the Telegram job (and delivery) and run a real RQ SimpleWorker in burst mode."""
    with app.app_context():
        wake.wake(app, wake.TELEGRAM)
        wake.wake(app, wake.DELIVERY)
        SimpleWorker(QUEUES, connection=queue_connection(app)).work(burst=True, logging_level="WARNING")
