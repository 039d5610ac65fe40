"""`make run`'s supervisord configuration is generated from the Procfile, restarts with backoff, stops whole groups."""
import configparser
import sys

from tests.conftest import ROOT

sys.path.insert(0, str(ROOT / "scripts"))
import run  # noqa: E402


def test_every_procfile_line_becomes_a_restarted_program_with_its_exact_command(tmp_path):
    programs = run.procfile_programs(ROOT / "Procfile")
    assert [name for name, _ in programs] == ["web", "worker", "scheduler"]
    parser = configparser.RawConfigParser()
    parser.read_string(run.supervisord_config(programs, tmp_path, "pw"))
    for name, command in programs:
        section = parser[f"program:{name}"]
        assert section["command"] == command
        assert section["autorestart"] == "true" and section["autostart"] == "true"
        # An exit within startsecs is retried after 1 s, 2 s, 3 s, … up to startretries times.
        assert int(section["startsecs"]) >= 1 and int(section["startretries"]) >= 10
        # Ctrl-C stops gunicorn's workers too, not only its master.
        assert section["stopasgroup"] == "true" and section["killasgroup"] == "true"
        assert section["stdout_logfile"] == str(tmp_path / "log" / f"{name}.log")
    assert parser["supervisord"]["nodaemon"] == "true"
    assert parser["unix_http_server"]["chmod"] == "0700"


def test_procfile_variables_become_supervisord_environment_references():
    assert run.supervisor_command("gunicorn -b 0.0.0.0:$PORT app:x") == "gunicorn -b 0.0.0.0:%(ENV_PORT)s app:x"
    assert run.supervisor_command("echo ${NAME} 100%") == "echo %(ENV_NAME)s 100%%"
