"""`make run` as a new user runs it: private databases under the var dir, all processes under supervisord,
a killed process restarted, Ctrl-C, rerun."""
import json
import os
import re
import signal
import subprocess
import threading
import time

import httpx

from tests.conftest import ROOT, free_port

BROWSER_UA = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36"


class MakeRun:
    """`make run` in its own process group, its output collected line by line."""

    def __init__(self, var_dir, port):
        env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "SECRET_KEY")}
        env.update(XT_VAR_DIR=str(var_dir), PORT=str(port), WEB_CONCURRENCY="1")
        self.url = f"http://127.0.0.1:{port}"
        self.lines: list[str] = []
        self.process = subprocess.Popen(["make", "--no-print-directory", "run"], cwd=ROOT, env=env,
                                        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                        start_new_session=True)
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.process.stdout:
            self.lines.append(line)

    @property
    def output(self) -> str:
        return "".join(self.lines)

    def wait_ready(self, timeout=120):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process.poll() is None, self.output
            try:
                if httpx.get(self.url + "/readyz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise AssertionError("make run did not become ready:\n" + self.output)

    def wait_for(self, text: str, timeout=30):
        deadline = time.monotonic() + timeout
        while text not in self.output:
            assert time.monotonic() < deadline and self.process.poll() is None, self.output
            time.sleep(0.2)

    def ctrl_c(self):
        """Ctrl-C as a terminal sends it: SIGINT to the whole foreground process group."""
        os.killpg(self.process.pid, signal.SIGINT)
        code = self.process.wait(60)
        # make itself reports the interrupt (-SIGINT); what matters is that everything stopped.
        assert code in (0, -signal.SIGINT, 130), self.output
        assert "private PostgreSQL and Redis stopped" in self.output, self.output


def test_make_run_starts_everything_stops_on_ctrl_c_and_keeps_data(tmp_path):
    var_dir = tmp_path / "var"
    first = MakeRun(var_dir, free_port())
    try:
        first.wait_ready()
        first.wait_for("demo link:")
        for name in ("web", "worker", "scheduler"):
            assert re.search(rf"success: {name} entered RUNNING state", first.output), first.output
        # The credentials come only once every process runs and /readyz answers, and are kept 0600.
        up = first.output.index("XTRACKER is up")
        bearer_at = first.output.index("bearer:")
        assert up < bearer_at and "xtb_" not in first.output[:up], first.output
        bearer = re.search(r"bearer:\s+(xtb_\S+)", first.output).group(1)
        assert re.search(r"password:\s+\S{12,}", first.output)
        assert "admin@xtracker.local" in first.output and "/login" in first.output
        credentials = var_dir / "first-run-credentials.txt"
        assert credentials.stat().st_mode & 0o777 == 0o600
        assert bearer in credentials.read_text() and "admin@xtracker.local" in credentials.read_text()
        assert str(credentials) in first.output
        demo = re.search(r"demo link:\s+(\S+)", first.output).group(1).replace("localhost", "127.0.0.1")
        landing = httpx.get(demo, headers={"User-Agent": BROWSER_UA})
        assert landing.status_code == 302 and re.search(r"uid=[\w-]{8,}", landing.headers["Location"])
        body = {"event": "deposit", "uid": "mr", "value": "9.99", "eid": "make-run-1"}
        r = httpx.post(first.url + "/events", json=body, headers={"Authorization": f"Bearer {bearer}"})
        assert r.json()["status"] == "queued"
        # env.sh alone gives a shell the settings and the virtualenv's flask (PATH without it).
        shell_env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
        shell_env["PATH"] = "/usr/bin:/bin"
        listed = subprocess.run(["bash", "-c", f". {var_dir / 'env.sh'} && flask --app wsgi space list --json"],
                                cwd=ROOT, capture_output=True, text=True, timeout=60, env=shell_env)
        assert json.loads(listed.stdout)["spaces"][0]["space"] == "demo", listed.stderr
        # …the same settings as the running processes, the private-destination switch included.
        assert "export ALLOW_PRIVATE_DESTINATIONS='1'" in (var_dir / "env.sh").read_text()
    finally:
        first.ctrl_c()
    try:
        httpx.get(first.url + "/healthz", timeout=1)
        raise AssertionError("the web process still answers after Ctrl-C")
    except httpx.TransportError:
        pass
    leftovers = subprocess.run(["pgrep", "-f", str(var_dir)], capture_output=True, text=True).stdout.split()
    assert leftovers == [], leftovers
    assert not any(line.startswith("supervisor") and ("exited:" in line or "gave up:" in line)
                   for line in first.output.splitlines()), first.output
    assert not (var_dir / "pg" / "pgdata" / "postmaster.pid").exists()
    assert not (var_dir / "redis" / "run" / "redis.sock").exists()
    assert (var_dir / "secret_key").stat().st_mode & 0o777 == 0o600
    env_file = (var_dir / "env.sh").read_text()
    assert "export DATABASE_URL=" in env_file and "export REDIS_URL=" in env_file
    assert (var_dir / "env.sh").stat().st_mode & 0o777 == 0o600

    second = MakeRun(var_dir, free_port())
    try:
        second.wait_ready()
        second.wait_for("still in")
        assert "existing data kept" in second.output and "xtb_" not in second.output
        assert f"first run's login and secrets are still in {var_dir / 'first-run-credentials.txt'}" in second.output
        r = httpx.post(second.url + "/events", json=body, headers={"Authorization": f"Bearer {bearer}"})
        assert r.json()["status"] == "duplicate"
        # supervisord restarts a process that dies, and says so.
        second.wait_for("success: worker entered RUNNING state")
        worker_pid = int(re.findall(r"spawned: 'worker' with pid (\d+)", second.output)[-1])
        os.kill(worker_pid, signal.SIGKILL)
        second.wait_for("exited: worker (terminated by SIGKILL")
        deadline = time.monotonic() + 60
        while len(re.findall(r"success: worker entered RUNNING state", second.output)) < 2:
            assert time.monotonic() < deadline and second.process.poll() is None, second.output
            time.sleep(0.2)
        assert int(re.findall(r"spawned: 'worker' with pid (\d+)", second.output)[-1]) != worker_pid
    finally:
        second.ctrl_c()
