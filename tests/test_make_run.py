"""`make run` as a new user runs it: private databases under the var dir, all processes, Ctrl-C, rerun."""
import json
import os
import re
import signal
import subprocess
import threading
import time

import httpx

from tests.conftest import ROOT, free_port


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
        deadline = time.monotonic() + 10
        while "scheduler.1" not in first.output or "worker.1" not in first.output:
            assert time.monotonic() < deadline, first.output
            time.sleep(0.2)
        bearer = re.search(r"bearer:\s+(xtb_\S+)", first.output).group(1)
        assert re.search(r"password:\s+\S{12,}", first.output)
        assert "admin@xtracker.local" in first.output and "/login" in first.output
        body = {"event": "deposit", "uid": "mr", "value": "9.99", "eid": "make-run-1"}
        r = httpx.post(first.url + "/events", json=body, headers={"Authorization": f"Bearer {bearer}"})
        assert r.json()["status"] == "queued"
        listed = subprocess.run(["bash", "-c", f". {var_dir / 'env.sh'} && .venv/bin/flask --app wsgi space list --json"],
                                cwd=ROOT, capture_output=True, text=True, timeout=60,
                                env={k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")})
        assert json.loads(listed.stdout)["spaces"][0]["space"] == "demo", listed.stderr
    finally:
        first.ctrl_c()
    try:
        httpx.get(first.url + "/healthz", timeout=1)
        raise AssertionError("the web process still answers after Ctrl-C")
    except httpx.TransportError:
        pass
    leftovers = subprocess.run(["pgrep", "-f", str(var_dir)], capture_output=True, text=True).stdout.split()
    assert leftovers == [], leftovers
    assert not (var_dir / "pg" / "pgdata" / "postmaster.pid").exists()
    assert not (var_dir / "redis" / "run" / "redis.sock").exists()
    assert (var_dir / "secret_key").stat().st_mode & 0o777 == 0o600
    env_file = (var_dir / "env.sh").read_text()
    assert "export DATABASE_URL=" in env_file and "export REDIS_URL=" in env_file
    assert (var_dir / "env.sh").stat().st_mode & 0o777 == 0o600

    second = MakeRun(var_dir, free_port())
    try:
        second.wait_ready()
        assert "existing data kept" in second.output and "xtb_" not in second.output
        r = httpx.post(second.url + "/events", json=body, headers={"Authorization": f"Bearer {bearer}"})
        assert r.json()["status"] == "duplicate"
    finally:
        second.ctrl_c()
