"""wrk as the load generator for the benchmarks: install, Lua scripts, output parsing."""
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "scripts"))
import services  # noqa: E402

# Each wrk thread gets a random id so request bodies stay unique across threads and runs: the
# generator is seeded from the clock, or every run would repeat the last one's ids (duplicates).
UNIQUE_BODY_LUA = """
math.randomseed(os.time() * 1000 + math.floor(os.clock() * 1000000))
local counter = 0
function setup(thread)
  thread:set("tid", tostring(math.random(1, 1000000000)))
end
request = function()
  counter = counter + 1
  local n = tid .. "_" .. counter
  local path = string.gsub(PATH, "{n}", n)
  if BODY_TEMPLATE == nil then
    return wrk.format(METHOD, path, HEADERS)
  end
  local body = string.gsub(BODY_TEMPLATE, "{n}", n)
  return wrk.format(METHOD, path, HEADERS, body)
end
"""

# Paced runs: each connection waits an exponentially distributed time (mean DELAY_MS) before
# its next request, so the connections arrive independently (a Poisson stream, as independent
# clicks and postbacks do) instead of firing in lock-step bursts every DELAY_MS.
PACED_LUA = """
math.randomseed(os.time() + math.floor(os.clock() * 1000000))
function delay()
  return math.floor(-math.log(1 - math.random()) * DELAY_MS)
end
"""


# Every request from another visitor's address, as the trusted proxy in front (127.0.0.1) reports it in
# X-Forwarded-For: a landing benchmark is many visitors, and one address would meet LANDING_RATE_LIMIT.
VISITOR_ADDRESS_LUA = """
local visitor = 0
request = function()
  visitor = visitor + 1
  wrk.headers["X-Forwarded-For"] = "10." .. math.floor(visitor / 65536) % 256 .. "." ..
    math.floor(visitor / 256) % 256 .. "." .. visitor % 256
  return wrk.format()
end
"""


def wrk_binary() -> str:
    """Path of wrk, installed from Debian's package when missing."""
    found = shutil.which("wrk")
    if found is None:
        services.apt_install("wrk")
        found = shutil.which("wrk")
    if found is None:
        raise services.ServiceError("wrk is required for benchmarks: apt-get install -y wrk")
    return found


def lua_script(method: str, path: str, headers: dict | None = None, body_template: str | None = None,
               delay_ms: float | None = None, visitors: bool = False) -> str:
    """Write a wrk Lua script file and return its path; `visitors` gives each request its own client address.

    "{n}" in `body_template` or `path` becomes a value unique to the request (across threads and runs).
    """
    parts = []
    if body_template is not None or "{n}" in path:
        lua_headers = "{" + ", ".join(f'["{k}"] = "{v}"' for k, v in (headers or {}).items()) + "}"
        body = f"[[{body_template}]]" if body_template is not None else "nil"
        parts.append(f"METHOD = \"{method}\"\nPATH = \"{path}\"\nHEADERS = {lua_headers}\nBODY_TEMPLATE = {body}\n")
        parts.append(UNIQUE_BODY_LUA)
    else:
        parts.append(f'wrk.method = "{method}"\nwrk.path = "{path}"\n')
        for k, v in (headers or {}).items():
            parts.append(f'wrk.headers["{k}"] = "{v}"\n')
        if visitors:
            parts.append(VISITOR_ADDRESS_LUA)
    if delay_ms is not None:
        parts.append(PACED_LUA.replace("DELAY_MS", str(int(delay_ms))))
    handle = tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False)
    handle.write("".join(parts))
    handle.close()
    return handle.name


def _ms(text: str) -> float:
    value, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text).groups()
    return float(value) * {"us": 0.001, "ms": 1, "s": 1000, "m": 60000}[unit]


def run(url: str, script: str, *, seconds: int, connections: int, threads: int = 2) -> dict:
    """Run wrk and return req/s, p50/p99 latency (ms), and error counts."""
    threads = max(1, min(threads, connections))
    done = subprocess.run([wrk_binary(), f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--latency",
                           "-s", script, url], capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"wrk against {url} exited with {done.returncode}: {(done.stderr or done.stdout).strip()}")
    out = done.stdout
    result = {"rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))}
    for pct in ("50", "99"):
        result[f"p{pct}_ms"] = _ms(re.search(rf"^\s+{pct}(?:\.000)?%\s+(\S+)", out, re.M).group(1))
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = re.search(r"Socket errors: (.*)", out)
    result["non_2xx"] = int(non_2xx.group(1)) if non_2xx else 0
    result["socket_errors"] = errors.group(1) if errors else ""
    return result
