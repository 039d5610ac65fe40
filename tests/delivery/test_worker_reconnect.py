"""The worker process (Procfile `worker`) outlives a Redis outage by itself and still stops on SIGTERM."""
import os
import signal
import subprocess
import sys
import time

from tests.conftest import ROOT, TEST_SECRET_KEY
from tests.delivery.conftest import deliveries, make_destination, send_event, sweep


def start_worker(servers) -> subprocess.Popen:
    env = {**os.environ, "DATABASE_URL": servers.database_url, "REDIS_URL": servers.redis_url,
           "SECRET_KEY": TEST_SECRET_KEY, "ALLOW_PRIVATE_DESTINATIONS": "1", "LOG_LEVEL": "INFO",
           "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen([sys.executable, "-m", "jobs.worker"], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)


def test_the_worker_survives_a_redis_outage_delivers_afterwards_and_stops_on_sigterm(app, client, space, db,
                                                                                      httpserver, servers):
    make_destination(app, space, "webhook", url=httpserver.url_for("/hook"))
    httpserver.expect_request("/hook").respond_with_data("ok")
    worker = start_worker(servers)
    try:
        time.sleep(3)
        servers.stop_redis()
        try:
            send_event(client, space, event="deposit", uid="abc", value="3", eid="while-redis-is-away")
            time.sleep(6)
            assert worker.poll() is None, "the worker exited when Redis went away:\n" + worker.stdout.read()
        finally:
            servers.start_redis()
        # No manual step: the sweeper (here called as the scheduler calls it) re-enqueues the lost wake-up.
        deadline = time.monotonic() + 30
        while deliveries(db)[0]["status"] != "delivered":
            assert time.monotonic() < deadline and worker.poll() is None, "not delivered after Redis returned"
            sweep(app)
            time.sleep(1)
        started = time.monotonic()
        os.killpg(worker.pid, signal.SIGTERM)
        assert worker.wait(15) == 0
        assert time.monotonic() - started < 15
        log = worker.stdout.read()
        # The outage was seen and outlived: either inside RQ's own reconnect loop (its wait capped by
        # jobs.worker) or, when RQ gave up, by jobs.worker starting a new RQ worker.
        rq_retried = "could not connect to Redis instance" in log
        restarted = "Redis is unavailable" in log and "Redis answers again" in log
        assert rq_retried or restarted, log
    finally:
        if worker.poll() is None:
            os.killpg(worker.pid, signal.SIGKILL)
            worker.wait()
