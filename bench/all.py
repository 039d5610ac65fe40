"""Every benchmark under bench/, one after another, and ONE table of ratios: each figure beside its ceiling
from the same run (the Flask hello endpoint, a bare INSERT, a bare httpx sender, the small space, …).

Usage: .venv-test/bin/python bench/all.py [--full] [--only landing,ingest,…] [--compare REV]
       (or `make bench`, `make bench FULL=1`, `make bench BENCH_COMPARE=HEAD~1`)

Short mode (the default) runs each benchmark briefly and on smaller data, so the whole table
takes a bounded ~10–15 minutes on a loaded 2-core machine; --full (or BENCH_FULL=1) runs each
with its own defaults (10M events for the deck and reports, 1,000 live viewers, …: about an hour).
Every benchmark still writes its own bench/results/<name>.json and its output goes to
bench/results/<name>.log; this table is also written to bench/results/summary.md.

The machine's speed varies threefold from day to day and 2 cores are shared: read the ratios,
with the absolute figures and the machine's hello figure of the same run as context, and the
load average beside them.
"""
import argparse
import datetime
import json
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import ROOT, load_average  # noqa: E402

RESULTS = ROOT / "bench" / "results"

# name: (short-mode arguments, full-mode arguments)
BENCHES = {
    "landing": (["--seconds", "5", "--connections", "64,1"], ["--connections", "64,1"]),
    "ingest": (["--seconds", "5", "--connections", "64,1"], ["--connections", "64,1"]),
    "delivery": (["--count", "6000", "--rounds", "2"], []),
    "dashboard": (["--clicks", "100000", "--events", "1000000", "--runs", "7"], []),
    "reports": (["--clicks", "100000", "--events", "1000000", "--runs", "7"], []),
    "live": (["--viewers", "300", "--spaces", "30", "--rate", "300", "--seconds", "5"], []),
    "telegram": (["--seconds", "5"], []),
    "badauth": (["--seconds", "4"], []),
}


def load(name: str) -> dict | None:
    path = RESULTS / f"{name}.json"
    return json.loads(path.read_text()) if path.exists() else None


def rows_for(name: str, r: dict) -> list[tuple]:
    """(figure, measured, ceiling, ratio, target, met) rows of one benchmark's results."""
    rows: list[tuple] = []

    def ratio(label, ours, ceiling_label, ceiling, unit, target=None, at_least=True):
        value = ours / ceiling if ceiling else float("nan")
        met = None if target is None else (value >= target if at_least else value <= target)
        rows.append((label, f"{ours:,.{1 if ours < 100 else 0}f} {unit}", f"{ceiling_label} {ceiling:,.{1 if ceiling < 100 else 0}f}",
                     f"{value:.2f}", ("≥ " if at_least else "≤ ") + f"{target}" if target is not None else "—", met))

    def absolute(label, value, unit, beside, target=None):
        met = None if target is None else value <= target
        rows.append((label, f"{value:,.3f} {unit}" if value < 10 else f"{value:,.1f} {unit}", beside, "", f"≤ {target} {unit}"
                     if target is not None else "—", met))

    if name == "landing":
        for c in r["connections"]:
            land, hello = r[f"landing_c{c}"], r[f"hello_c{c}"]
            ratio(f"landing/s, {c} conn", land["rps"], "hello", hello["rps"], "/s", 0.5 if c == max(r["connections"]) else None)
            absolute(f"CPU per landing (web+pg), {c} conn", land["cpu_ms_per_request"]["total"], "ms",
                     f"hello {hello['cpu_ms_per_request']['total']:.3f} ms", 0.5 if c >= 64 else 1.0)
            if r.get("compare"):
                old = r[f"rev_{r['compare']}_c{c}"]
                ratio(f"landing CPU ms, {c} conn", land["cpu_ms_per_request"]["total"], r["compare"],
                      old["cpu_ms_per_request"]["total"], "ms")
        absolute("landing p99 at half rate", r["landing_half_rate"]["p99_ms"], "ms",
                 f"at {r['landing_half_rate']['rps']:.0f}/s", 50)
    elif name == "ingest":
        for c in r["connections"]:
            hello, bare = r[f"hello_c{c}"], r[f"bare_insert_c{c}"]
            for key, label in (("ingest", "POST /events"), ("get_e", "GET /e")):
                ours = r[f"{key}_c{c}"]
                ratio(f"{label}/s, {c} conn", ours["rps"], "hello", hello["rps"], "/s", 0.6)
                ratio(f"{label}/s, {c} conn", ours["rps"], "bare INSERT", bare["rps"], "/s", 1.5)
                absolute(f"CPU per {label} event (web+pg), {c} conn", ours["cpu_ms_per_request"]["total"], "ms",
                         f"bare INSERT {bare['cpu_ms_per_request']['total']:.3f} ms")
                if r.get("compare"):
                    old = r[f"{key}_rev_{r['compare']}_c{c}"]
                    ratio(f"{label} CPU ms, {c} conn", ours["cpu_ms_per_request"]["total"], r["compare"],
                          old["cpu_ms_per_request"]["total"], "ms")
        absolute("POST /events p99 at half rate", r["ingest_half_rate"]["p99_ms"], "ms",
                 f"at {r['ingest_half_rate']['rps']:.0f}/s", 50)
    elif name == "delivery":
        ratio("deliveries/s", r["xtracker_per_s"], "bare httpx", r["bare_httpx_per_s"], "/s", 0.9)
    elif name in ("dashboard", "reports"):
        small, big = r["results"]["small"], r["results"]["big"]
        sizes = f"{r['generated']['big']['events']:,} vs {r['generated']['small']['events']:,} events"
        for label in big:
            ratio(f"{name} {label} ({sizes})", big[label]["median_ms"], "small", small[label]["median_ms"], "ms",
                  1.5, at_least=False)
    elif name == "live":
        gap = r["p99_ms"] - r["post_p99_ms"]
        absolute(f"frame p99 − POST p99 ({r['viewers']} viewers, {r['events_per_s']}/s)", gap, "ms",
                 f"POST p99 {r['post_p99_ms']} ms", 20)
        absolute("memory per viewer", r["kb_per_viewer"], "KiB", f"{r['viewers']} viewers", 32)
    elif name == "telegram":
        ratio("webhook p99", r["webhook"]["p99_ms"], "hello p99", r["hello"]["p99_ms"], "ms")
        absolute("webhook p99", r["webhook"]["p99_ms"], "ms", f"at {r['rate_per_s']:g}/s", 50)
    elif name == "badauth":
        worst = max((v for k, v in r.items() if isinstance(v, dict) and "p99_vs_control_flood" in v
                     and k not in ("valid_only", "control_healthz_flood")), key=lambda v: v["p99_vs_control_flood"])
        rows.append(("valid p99 beside worst wrong-token flood", f"{worst['valid']['p99_ms']:.1f} ms",
                     f"/healthz flood {r['control_healthz_flood']['valid']['p99_ms']:.1f}",
                     f"{worst['p99_vs_control_flood']:.2f}", "≤ 1.5", worst["p99_vs_control_flood"] <= 1.5))
    return rows


def table(outcomes: dict[str, str], mode: str, started: float) -> str:
    landing = load("landing") if outcomes.get("landing") == "ok" else None
    hello = (f"hello {landing['hello_c64']['rps']:,.0f}/s at 64 conn, {landing['hello_c1']['rps']:,.0f}/s at 1 conn"
             if landing and "hello_c64" in landing and "hello_c1" in landing else "hello: not measured")
    lines = [f"`make bench` ({mode}) {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC, "
             f"{os.cpu_count()} cores, load average {load_average()} at the end, {time.monotonic() - started:.0f} s;"
             f" machine: {hello}", "",
             "| bench | figure | measured | ceiling (same run) | ratio | target | met |",
             "| --- | --- | --- | --- | --- | --- | --- |"]
    for name, outcome in outcomes.items():
        if outcome != "ok":
            lines.append(f"| {name} | {outcome} (see bench/results/{name}.log) | | | | | |")
            continue
        try:
            for label, measured, ceiling, ratio, target, met in rows_for(name, load(name)):
                mark = "" if met is None else ("yes" if met else "**no**")
                lines.append(f"| {name} | {label} | {measured} | {ceiling} | {ratio} | {target} | {mark} |")
        except (KeyError, TypeError, ValueError) as exc:
            lines.append(f"| {name} | results unreadable ({type(exc).__name__}: {exc}) | | | | | |")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--full", action="store_true", default=os.environ.get("BENCH_FULL", "") not in ("", "0"),
                        help="each benchmark with its own (long) defaults; also BENCH_FULL=1")
    parser.add_argument("--only", default=os.environ.get("BENCH_ONLY", ""),
                        help=f"comma-separated subset of {','.join(BENCHES)}; also BENCH_ONLY")
    parser.add_argument("--compare", default=os.environ.get("BENCH_COMPARE", ""), metavar="REV",
                        help="also serve commit REV beside this one in the landing and ingest benchmarks"
                             " (e.g. HEAD~1, the previous commit); also BENCH_COMPARE")
    args = parser.parse_args()
    names = [n.strip() for n in args.only.split(",") if n.strip()] or list(BENCHES)
    unknown = set(names) - set(BENCHES)
    if unknown:
        parser.error(f"unknown benchmark(s): {', '.join(sorted(unknown))}")
    RESULTS.mkdir(exist_ok=True)
    started, outcomes = time.monotonic(), {}
    for name in names:
        extra = BENCHES[name][1 if args.full else 0]
        if args.compare and name in ("landing", "ingest"):
            extra = [*extra, "--compare", args.compare]
        (RESULTS / f"{name}.json").unlink(missing_ok=True)
        print(f"[{time.monotonic() - started:5.0f} s] {name} {' '.join(extra)} (load average {load_average()})",
              flush=True)
        with (RESULTS / f"{name}.log").open("w") as log:
            done = subprocess.run([sys.executable, str(ROOT / "bench" / f"{name}.py"), *extra], cwd=ROOT,
                                  stdout=log, stderr=subprocess.STDOUT)
        # telegram.py exits 1 when its own target is missed: the table says so; only missing results fail.
        outcomes[name] = "ok" if load(name) is not None else f"failed (exit {done.returncode})"
    summary = table(outcomes, "full" if args.full else "short", started)
    (RESULTS / "summary.md").write_text(summary + "\n")
    print("\n" + summary)
    return 0 if all(o == "ok" for o in outcomes.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
