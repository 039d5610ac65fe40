"""Ceiling endpoints for the ingest and landing benchmarks, served by the same gunicorn config.

`/hello` is the framework's floor (no I/O); `/insert` is one bare `INSERT … ON CONFLICT DO
NOTHING RETURNING` through psycopg_pool — what any ingest endpoint costs at the very least.
"""
import itertools
import os

from flask import Flask, request
from psycopg_pool import ConnectionPool

app = Flask(__name__)
pool = ConnectionPool(os.environ["DATABASE_URL"], min_size=2, max_size=10, open=True,
                      kwargs={"autocommit": True, "application_name": "xtracker-bench-ceiling"})
pool.wait()
_counter = itertools.count()
_prefix = f"{os.getpid()}-"

with pool.connection() as conn:
    conn.execute("CREATE TABLE IF NOT EXISTS bench_ceiling (id bigint GENERATED ALWAYS AS IDENTITY,"
                 " k text NOT NULL UNIQUE, body text)")


@app.get("/hello")
def hello():
    return "ok"


@app.post("/insert")
def insert():
    body = request.get_data(as_text=True)
    with pool.connection() as conn:
        row = conn.execute("INSERT INTO bench_ceiling (k, body) VALUES (%s, %s) ON CONFLICT DO NOTHING RETURNING id",
                           (_prefix + str(next(_counter)), body)).fetchone()
    return {"ok": True, "id": row[0] if row else None}
