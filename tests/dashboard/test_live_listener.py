"""A viewer's frame queue: order, waking, the bound that marks a slow viewer stale."""
import threading
import time

from app.live import QUEUE_SIZE, Listener


def test_frames_come_out_in_order_and_an_empty_queue_times_out():
    listener = Listener(1, None)
    listener.put("a")
    listener.put("b")
    assert listener.get(timeout=0.1) == "a"
    assert listener.get(timeout=0.1) == "b"
    started = time.monotonic()
    assert listener.get(timeout=0.2) is None
    assert time.monotonic() - started >= 0.15


def test_a_frame_put_while_the_viewer_waits_wakes_it():
    listener = Listener(1, None)
    threading.Timer(0.1, listener.put, ("late",)).start()
    started = time.monotonic()
    assert listener.get(timeout=5) == "late"
    assert time.monotonic() - started < 2


def test_a_viewer_that_falls_a_full_queue_behind_goes_stale_and_keeps_what_it_had():
    listener = Listener(1, None)
    for n in range(QUEUE_SIZE):
        listener.put(str(n))
    assert not listener.stale
    listener.put("one too many")
    assert listener.stale
    assert listener.get(timeout=0.1) == "0"
    assert len(listener.frames) == QUEUE_SIZE - 1
