"""Kills and outages under load against the Procfile's processes; each scenario adds its row to the fault table.

1. The worker SIGKILLed every few seconds during a 20,000-event run: nothing lost, and the sink's
   duplicates (a delivery re-sent after its worker died) always carry the same webhook-id.
2. Redis stopped for 30 s under load: every event answered `queued`, every delivery made after
   Redis returns with no manual step, and no process exited.
3. PostgreSQL stopped for 20 s under a retrying client: every eid stored exactly once.
"""
import asyncio
import threading
import time

from tests.faults.harness import Sink, events, post_events

KILL_EVENTS = 20_000
KILL_EVERY_SECONDS = 2.0
MIN_KILLS = 6
REDIS_OUTAGE_SECONDS = 30
PG_OUTAGE_SECONDS = 20


def running(stack, before: dict) -> tuple[bool, str]:
    """Whether every Procfile process still runs, started no more often than in `before`; and a note."""
    exited = stack.exited()
    restarted = {name: stack.started[name] - before.get(name, 0) for name in stack.commands}
    ok = not exited and not any(restarted.values())
    note = "web, worker, scheduler kept running" if ok else f"exited {exited}, restarted {restarted}"
    return ok, note


def test_worker_sigkilled_every_few_seconds_during_a_20000_event_run_loses_nothing(procfile_stack, fault_report):
    stack = procfile_stack
    sink = Sink(stack.base)
    try:
        space = stack.space_with_webhook("Kill Run", sink.url)
        bodies = events("kill", KILL_EVENTS)
        eids = {b["eid"] for b in bodies}
        stop_killing, ingest_done = threading.Event(), threading.Event()
        kills = []

        def delivered() -> int:
            return stack.delivery_counts(space["id"]).get("delivered", 0)

        def killer():
            # Each worker gets to deliver something, then dies KILL_EVERY_SECONDS later, mid-batch; this
            # goes on until the ingest is over and at least MIN_KILLS kills happened.
            while not stop_killing.is_set() and (len(kills) < MIN_KILLS or not ingest_done.is_set()):
                before, deadline = delivered(), time.monotonic() + 120
                while delivered() <= before and time.monotonic() < deadline and not stop_killing.is_set():
                    time.sleep(0.3)
                if stop_killing.wait(KILL_EVERY_SECONDS) or delivered() >= KILL_EVENTS:
                    return
                stack.kill("worker")
                kills.append(time.monotonic())
                stack.start("worker")  # as supervisord restarts it

        thread = threading.Thread(target=killer, daemon=True)
        started = time.monotonic()
        thread.start()
        try:
            answers = asyncio.run(post_events(stack.url, space["bearer"], bodies, concurrency=32))
            ingest_seconds = time.monotonic() - started
            ingest_done.set()
            thread.join(300)
        finally:
            stop_killing.set()
            thread.join(30)
        queued = sum(1 for a in answers.values() if a[-1] == "queued")
        drained = stack.wait_delivered(space["id"], KILL_EVENTS, timeout=300)
        total_seconds = time.monotonic() - started
        stored = tuple(stack.query("SELECT count(*), count(DISTINCT eid) FROM events WHERE space_id = %(s)s",
                                   {"s": space["id"]})[0])
        counts = stack.delivery_counts(space["id"])
        time.sleep(1)
        verdict = sink.verdict(eids)
        lost = KILL_EVENTS - min(queued, stored[1], counts.get("delivered", 0), verdict["unique"])
        ok = (queued == KILL_EVENTS and stored == (KILL_EVENTS, KILL_EVENTS) and drained is not None
              and counts.get("delivered") == KILL_EVENTS and verdict["missing"] == 0 and verdict["mixed_ids"] == 0)
        fault_report.add(
            f"worker SIGKILLed {KILL_EVERY_SECONDS:g} s into each run during a {KILL_EVENTS:,}-event run",
            f"{len(kills)} kills; {queued:,} answered queued (ingest {ingest_seconds:.0f} s), {stored[1]:,} stored, "
            f"{counts.get('delivered', 0):,} delivered, all within {total_seconds:.0f} s; lost {lost}; sink "
            f"{verdict['requests']:,} requests, {verdict['duplicates']} duplicates, "
            f"{verdict['mixed_ids']} eids under two webhook-ids",
            ok)
        assert queued == KILL_EVENTS, {a[-1] for a in answers.values()}
        assert stored == (KILL_EVENTS, KILL_EVENTS)
        assert drained is not None, f"not all delivered: {counts}\n{stack.log('worker')}"
        assert verdict["missing"] == 0 and verdict["mixed_ids"] == 0, verdict
        assert len(kills) >= MIN_KILLS, f"only {len(kills)} kills: the run ended before the worker could be killed"
    finally:
        sink.close()
        if stack.processes["worker"].poll() is not None:
            stack.start("worker")


def test_redis_stopped_30_s_under_load_every_event_queued_and_delivered_without_a_manual_step(procfile_stack,
                                                                                              fault_report):
    stack = procfile_stack
    sink = Sink(stack.base)
    before = dict(stack.started)
    try:
        space = stack.space_with_webhook("Redis Outage", sink.url)
        rate, seconds = 100, REDIS_OUTAGE_SECONDS + 12
        bodies = events("redis", rate * seconds)
        eids = {b["eid"] for b in bodies}
        result = {}
        load = threading.Thread(target=lambda: result.update(
            answers=asyncio.run(post_events(stack.url, space["bearer"], bodies, concurrency=64, rate=rate))))
        load.start()
        time.sleep(5)
        stack.stop_redis()
        stopped_at = time.monotonic()
        try:
            time.sleep(REDIS_OUTAGE_SECONDS)
        finally:
            stack.start_redis()
        returned_at = time.monotonic()
        load.join(180)
        answers = result["answers"]
        queued = sum(1 for a in answers.values() if a == ["queued"])
        during = sum(1 for b in bodies[int(5 * rate):int((5 + REDIS_OUTAGE_SECONDS) * rate)]
                     if answers[b["eid"]] == ["queued"])
        drained = stack.wait_delivered(space["id"], len(bodies), timeout=120)
        drain_seconds = time.monotonic() - returned_at
        time.sleep(1)
        verdict = sink.verdict(eids)
        alive, note = running(stack, before)
        delivered = stack.delivery_counts(space["id"]).get("delivered", 0)
        ok = queued == len(bodies) and drained is not None and verdict["missing"] == 0 and alive
        fault_report.add(
            f"Redis stopped {REDIS_OUTAGE_SECONDS} s under load ({rate} events/s)",
            f"{queued:,}/{len(bodies):,} answered queued ({100 * queued / len(bodies):.0f} %, {during:,} of them "
            f"while Redis was down {returned_at - stopped_at:.0f} s); {delivered:,}/{len(bodies):,} delivered "
            f"({100 * delivered / len(bodies):.0f} %) {drain_seconds:.0f} s after Redis returned, no manual step; "
            f"{note}",
            ok)
        assert queued == len(bodies), {tuple(a) for a in answers.values() if a != ["queued"]}
        assert drained is not None and verdict["missing"] == 0, (verdict, stack.log("worker"))
        assert alive, note + "\n" + stack.log("worker") + stack.log("web")
    finally:
        sink.close()


def test_postgres_stopped_20_s_under_a_retrying_client_stores_each_eid_exactly_once(procfile_stack, fault_report):
    stack = procfile_stack
    sink = Sink(stack.base)
    before = dict(stack.started)
    try:
        space = stack.space_with_webhook("Postgres Outage", sink.url)
        rate, seconds = 50, PG_OUTAGE_SECONDS + 10
        bodies = events("pg", rate * seconds)
        eids = {b["eid"] for b in bodies}
        result = {}
        retry_until = time.monotonic() + seconds + 90
        load = threading.Thread(target=lambda: result.update(answers=asyncio.run(
            post_events(stack.url, space["bearer"], bodies, concurrency=256, rate=rate, retry_until=retry_until))))
        load.start()
        time.sleep(5)
        stack.stop_postgres()
        stopped_at = time.monotonic()
        try:
            time.sleep(PG_OUTAGE_SECONDS)
        finally:
            stack.start_postgres()
        outage = time.monotonic() - stopped_at
        load.join(240)
        answers = result["answers"]
        settled = sum(1 for a in answers.values() if a[-1] in ("queued", "duplicate"))
        refused = sum(1 for a in answers.values() for x in a if x == "503")
        errors = sum(1 for a in answers.values() for x in a if x.startswith("error"))
        retried = sum(1 for a in answers.values() if len(a) > 1)
        duplicates = sum(1 for a in answers.values() if a[-1] == "duplicate")
        rows = dict(stack.query("SELECT eid, count(*) FROM events WHERE space_id = %(s)s GROUP BY eid",
                                {"s": space["id"]}))
        once = sum(1 for eid in eids if rows.get(eid) == 1)
        twice = sum(1 for n in rows.values() if n > 1)
        drained = stack.wait_delivered(space["id"], len(bodies), timeout=90)
        verdict = sink.verdict(eids)
        alive, note = running(stack, before)
        ok = once == len(bodies) and twice == 0 and settled == len(bodies) and alive
        fault_report.add(
            f"PostgreSQL stopped {PG_OUTAGE_SECONDS} s under a retrying client ({rate} events/s)",
            f"{len(bodies):,} eids: {once:,} stored exactly once, {twice} twice, {len(bodies) - len(rows)} missing; "
            f"{refused:,} answers 503 and {errors} connection errors during the {outage:.0f} s outage, "
            f"{retried:,} events retried ({duplicates} answered duplicate); "
            f"{'all' if drained is not None else verdict['unique']} delivered afterwards; {note}",
            ok)
        assert settled == len(bodies), {tuple(a[-1:]) for a in answers.values()}
        assert once == len(bodies) and twice == 0
        assert refused > 0, "the outage was not seen by the client"
        assert alive, note + "\n" + stack.log("worker") + stack.log("scheduler")
        assert drained is not None, stack.delivery_counts(space["id"])
    finally:
        sink.close()
