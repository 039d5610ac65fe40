"""Wrong-credential flood benchmark: valid POST /events latency alone and beside a flood of wrong tokens.

Usage: .venv/bin/python bench/badauth.py [--seconds 10] [--rate 1000] [--connections 32]
       (or `make bench-badauth`)

1. Starts a private PostgreSQL and Redis and serves wsgi:app with gunicorn.conf.py, as the
   Procfile runs it, with the default rate limits.
2. Drives valid POST /events at a paced --rate (each connection waits an exponentially
   distributed time between requests) for --seconds, five times in the same run:
   - alone;
   - beside an unpaced flood of GET /healthz (the control: what any flood costs on shared cores);
   - beside an unpaced flood repeating one wrong bearer secret;
   - beside an unpaced flood of a new well-formed random secret on every request, from one
     client address (the per-address failure limit answers most of it with 429);
   - beside the same flood spread over random client addresses (X-Forwarded-For from the
     trusted 127.0.0.1 peer), which no per-address limit stops: only the credential check's cost.
3. Prints the valid requests' rate, p50 and p99 in each case, the flood's rate and answers, and
   the p99 ratios against the valid-only run; writes bench/results/badauth.json.

Target: a flood of wrong tokens must not slow valid requests more than a flood of the cheapest
request does — valid p99 beside each wrong-token flood within 1.5x of the p99 beside the
/healthz control flood. wrk shares the two cores with the server, so any flood takes CPU from
it; compare the ratios.
"""
import argparse
import sys
import tempfile
import threading
from pathlib import Path

import redis

sys.path.insert(0, str(Path(__file__).resolve().parent))
import wrkload  # noqa: E402
from harness import Stack, free_port, save, serve, stop  # noqa: E402

EVENT_BODY = '{"event":"contact","uid":"u{n}","eid":"e{n}"}'

FLOOD_LUA = """
math.randomseed(os.time() + math.floor(os.clock() * 1000000))
local chars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
local function secret()
  if FIXED ~= "" then return FIXED end
  local t = {}
  for i = 1, 43 do local k = math.random(1, 64); t[i] = chars:sub(k, k) end
  return "xtb_" .. table.concat(t)
end
request = function()
  local headers = {["Content-Type"] = "application/json", ["Authorization"] = "Bearer " .. secret()}
  if SPREAD then
    headers["X-Forwarded-For"] = math.random(1, 223) .. "." .. math.random(0, 255) .. "." ..
      math.random(0, 255) .. "." .. math.random(1, 254)
  end
  return wrk.format("POST", "/events", headers, '{"event":"contact","uid":"x"}')
end
"""

FLOODS = {
    "control_healthz_flood": None,
    "same_wrong_token": {"fixed": "xtb_" + "W" * 43, "spread": False},
    "random_tokens_one_address": {"fixed": "", "spread": False},
    "random_tokens_many_addresses": {"fixed": "", "spread": True},
}


def flood_script(fixed: str, spread: bool) -> str:
    """A wrk script that posts an event with a wrong bearer secret on every request."""
    handle = tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False)
    handle.write(f'FIXED = "{fixed}"\nSPREAD = {"true" if spread else "false"}\n' + FLOOD_LUA)
    handle.close()
    return handle.name


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--rate", type=int, default=300, help="valid requests per second (paced)")
    parser.add_argument("--connections", type=int, default=32)
    args = parser.parse_args()
    wrkload.wrk_binary()
    with Stack("badauth") as stack:
        space = stack.flask_json("space", "create", "Bench")
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        headers = {"Content-Type": "application/json", "Authorization": f"Bearer {space['bearer']}"}
        results: dict = {"settings": {"seconds": args.seconds, "rate": args.rate, "connections": args.connections}}
        web = serve("wsgi:app", stack.env, port)
        try:
            for run, flood in [("valid_only", None), *FLOODS.items()]:
                # Fresh rate-limit counters: one run's flood must not spend the next run's limits.
                redis.Redis.from_url(stack.env["REDIS_URL"]).flushdb()
                body = EVENT_BODY.replace("{n}", f"{run}_{{n}}")
                valid = wrkload.lua_script("POST", "/events", headers, body,
                                           delay_ms=args.connections * 1000 / args.rate)
                flooding: dict = {}
                thread = None
                if run != "valid_only":
                    script = (wrkload.lua_script("GET", "/healthz") if flood is None
                              else flood_script(flood["fixed"], flood["spread"]))

                    def drive(script=script, out=flooding):
                        out.update(wrkload.run(url, script, seconds=args.seconds, connections=args.connections,
                                               threads=1))
                    thread = threading.Thread(target=drive)
                    thread.start()
                results[run] = {"valid": wrkload.run(url, valid, seconds=args.seconds, connections=args.connections,
                                                     threads=1)}
                if thread is not None:
                    thread.join()
                    results[run]["flood"] = flooding
        finally:
            stop(web)
        base = results["valid_only"]["valid"]["p99_ms"]
        control = results["control_healthz_flood"]["valid"]["p99_ms"]
        print(f"\n{'run':<30}{'valid/s':>9}{'p50 ms':>9}{'p99 ms':>9}{'x alone':>9}{'x ctrl':>8}"
              f"{'flood/s':>10}{'flood non-2xx':>15}")
        for run in ("valid_only", *FLOODS):
            v, f = results[run]["valid"], results[run].get("flood")
            results[run]["p99_vs_valid_only"] = round(v["p99_ms"] / base, 2) if base else None
            results[run]["p99_vs_control_flood"] = round(v["p99_ms"] / control, 2) if control else None
            print(f"{run:<30}{v['rps']:>9.0f}{v['p50_ms']:>9.2f}{v['p99_ms']:>9.2f}"
                  f"{results[run]['p99_vs_valid_only']:>9.2f}{results[run]['p99_vs_control_flood']:>8.2f}"
                  f"{(f['rps'] if f else 0):>10.0f}{(f['non_2xx'] if f else 0):>15}")
            if v["non_2xx"]:
                print(f"  ! {v['non_2xx']} valid requests were not answered 2xx")
        save("badauth", results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
