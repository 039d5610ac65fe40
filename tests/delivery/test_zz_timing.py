import time
from rq import SimpleWorker
from jobs import QUEUES, queue_connection
from app.delivery import wake

def test_timing(app):
    with app.app_context():
        for _ in range(3):
            t = time.perf_counter()
            SimpleWorker(QUEUES, connection=queue_connection(app)).work(burst=True, logging_level="WARNING")
            t1 = time.perf_counter()
            wake.wake(app)
            SimpleWorker(QUEUES, connection=queue_connection(app)).work(burst=True, logging_level="WARNING")
            t2 = time.perf_counter()
            print("empty", t1 - t, "job", t2 - t1)
