"""The RQ worker process (Procfile `worker`): a non-forking SimpleWorker on XTRACKER's queues.

A forking worker manages about 100 jobs/s here; SimpleWorker runs jobs in-process, and jobs
batch their work, so the delivery rate is not bounded by job overhead.
"""
import sys

from rq import SimpleWorker

from app import create_app
from app.config import ConfigError
from jobs import QUEUES, queue_connection


def main() -> int:
    """Run the worker until SIGINT/SIGTERM."""
    app = create_app(process="worker")
    connection = queue_connection(app)
    with app.app_context():
        worker = SimpleWorker(QUEUES, connection=connection, name=None)
        worker.work(with_scheduler=False, logging_level=app.config["LOG_LEVEL"])
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except ConfigError as exc:
        sys.exit(f"XTRACKER configuration error: {exc}")
