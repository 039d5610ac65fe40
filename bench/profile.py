"""py-spy on a benchmark's web workers: sample a gunicorn's workers while wrk drives them, keep the top lines.

`start()` runs `py-spy record` on the gunicorn master with --subprocesses (every worker) in raw
(collapsed stack) format; `finish()` waits for it and returns the hottest frames: by self time
(the frame on top of the stack) and by total time (the frame anywhere in the stack, once per sample).
The whole collapsed file stays beside the summary for flame graphs (e.g. speedscope accepts it).
"""
import subprocess
import sys
from collections import Counter
from pathlib import Path

BIN = Path(sys.executable).parent
TOP = 15


def start(pid: int, out: Path, seconds: int) -> subprocess.Popen:
    """Sample process `pid` and its children for `seconds` at 250 Hz into `out` (collapsed stacks)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    return subprocess.Popen([str(BIN / "py-spy"), "record", "--pid", str(pid), "--subprocesses", "--nonblocking",
                             "--rate", "250", "--duration", str(seconds), "--format", "raw", "--output", str(out)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def _ours(frame: str) -> bool:
    # py-spy names frames "function (module/path.py:line)", the path relative to sys.path.
    return frame.partition(" (")[2].startswith(("app/", "wsgi.py"))


def summarize(out: Path) -> dict:
    """The top frames by self and by total share of the samples in collapsed-stack file `out`."""
    self_time, total_time, ours, samples = Counter(), Counter(), Counter(), 0
    for line in out.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        # The first frames name the processes ("process 123:\"gunicorn ...\""): not code.
        # Frames by function and file, whatever the line: "handle (gunicorn/workers/ggevent.py)".
        frames = [f.rsplit(":", 1)[0] + ")" if f.endswith(")") else f
                  for f in stack.split(";") if not f.startswith("process ")]
        if not frames:
            continue
        samples += n
        self_time[frames[-1]] += n
        for frame in set(frames):
            total_time[frame] += n
        for frame in {f for f in frames if _ours(f)}:
            ours[frame] += n
    share = lambda c: [(frame, round(100 * n / max(samples, 1), 1)) for frame, n in c.most_common(TOP)]  # noqa: E731
    return {"samples": samples, "self_pct": share(self_time), "total_pct": share(total_time),
            "app_total_pct": share(ours)}


def finish(sampler: subprocess.Popen, out: Path) -> dict:
    """Wait for the sampler; write `out`.txt with the top lines and return them."""
    try:
        _, err = sampler.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        sampler.kill()
        _, err = sampler.communicate()
    if not out.exists():
        return {"error": (err or b"").decode(errors="replace").strip()[-300:]}
    top = summarize(out)
    lines = [f"{top['samples']} samples", "", "self %:"] + [f"  {pct:5.1f}  {f}" for f, pct in top["self_pct"]]
    lines += ["", "total %:"] + [f"  {pct:5.1f}  {f}" for f, pct in top["total_pct"]]
    lines += ["", "total % (XTRACKER's code):"] + [f"  {pct:5.1f}  {f}" for f, pct in top["app_total_pct"]]
    out.with_suffix(".txt").write_text("\n".join(lines) + "\n")
    return top
