"""The README stays true: its configuration table is the settings table."""
import sys

from tests.conftest import ROOT

sys.path.insert(0, str(ROOT / "scripts"))
import config_table  # noqa: E402


def test_the_readme_lists_every_setting_exactly_as_app_config_defines_it():
    assert config_table.readme_table() == config_table.table(), \
        "README.md is stale: run `python scripts/config_table.py --write`"


def test_the_readme_names_the_two_commands():
    text = (ROOT / "README.md").read_text()
    assert "make run" in text and "make test" in text
    assert (ROOT / ".ci" / "run").read_text().strip().endswith("make test")
