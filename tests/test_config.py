"""Settings are validated at start-up: a bad value stops the process with a message naming it."""
import pytest

from app import config
from tests.test_cli import cli

GOOD = {"DATABASE_URL": "postgresql://x/y_test", "REDIS_URL": "redis://localhost:6379/0", "SECRET_KEY": "s" * 40}


def test_defaults_fill_what_is_unset():
    loaded = config.load(GOOD)
    assert loaded["PORT"] == 8000 and loaded["KEY_GRACE_HOURS"] == 24 and loaded["MAX_BODY_BYTES"] == 65536


@pytest.mark.parametrize("name, value, message", [
    ("PORT", "eighty", "PORT='eighty' is invalid"),
    ("PORT", "70000", "between 1 and 65535"),
    ("DATABASE_URL", "mysql://x/y", "DATABASE_URL=(hidden) is invalid"),
    ("REDIS_URL", "localhost:6379", "REDIS_URL=(hidden) is invalid"),
    ("SECRET_KEY", "short", "SECRET_KEY=(hidden) is invalid: must be at least 32"),
    ("LOG_LEVEL", "LOUD", "LOG_LEVEL='LOUD' is invalid"),
    ("PUBLIC_URL", "xtracker.cc", "PUBLIC_URL='xtracker.cc' is invalid"),
])
def test_a_bad_value_raises_naming_the_variable(name, value, message):
    with pytest.raises(config.ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        config.load({**GOOD, name: value})


@pytest.mark.parametrize("name", ["DATABASE_URL", "REDIS_URL", "SECRET_KEY"])
def test_a_missing_required_setting_raises_naming_it(name):
    environ = {k: v for k, v in GOOD.items() if k != name}
    with pytest.raises(config.ConfigError, match=f"{name} is not set"):
        config.load(environ)


def test_secret_values_never_appear_in_the_message():
    with pytest.raises(config.ConfigError) as caught:
        config.load({**GOOD, "SECRET_KEY": "tooshort-secret"})
    assert "tooshort-secret" not in str(caught.value)


def test_the_processes_refuse_to_start_with_a_bad_value(servers):
    done = cli(servers, "db", "migrate", env={"DB_POOL_MAX": "lots"})
    assert done.returncode != 0
    assert "DB_POOL_MAX='lots' is invalid" in done.stderr
