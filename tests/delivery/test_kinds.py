"""The destination-kind registry: each kind owns its whole surface, and nothing else tests a kind by name."""
import re
from pathlib import Path

import pytest

from app.delivery.kinds import KINDS

ROOT = Path(__file__).resolve().parent.parent.parent
SURFACE = ("KIND", "LABEL", "NAMED_AFTER", "FORM_FIELDS", "SECRET_FIELD", "TARGET_FIELD", "SECRET_SHOWN_ONCE",
           "ROTATES_SECRET", "TEST_SWITCH", "DEFAULT_EVENT_MAP", "EVENT_NAME_SUGGESTIONS", "BATCH_SIZE",
           "default_name", "form_defaults", "read_form", "app_defaults", "check_config", "check_settings",
           "replacement_secret", "accepts_test", "refuse", "wait_until", "invalid", "send")
MACROS = ("settings", "target", "test_note", "beside_form", "manage", "choice")


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_every_kind_owns_its_whole_surface_and_its_template(kind):
    module = KINDS[kind]
    assert module.KIND == kind
    assert [name for name in SURFACE if not hasattr(module, name)] == []
    assert set(module.DEFAULT_EVENT_MAP) == {"contact", "subscribed", "registration", "deposit"}
    template = (ROOT / "templates" / "setup" / "destinations" / "kinds" / f"{kind}.html").read_text()
    assert [name for name in MACROS if f"macro {name}(" not in template] == []


def test_no_code_outside_a_kind_tests_a_destination_kind_by_name():
    names = "|".join(map(re.escape, KINDS))
    branch = re.compile(rf"""(==|!=)\s*["']({names})["']|["']({names})["']\s*(==|!=)|\bkind\s*(==|!=)""")
    kinds_dir = ROOT / "app" / "delivery" / "destinations"
    found = []
    for path in sorted((ROOT / "app").rglob("*.py")):
        if kinds_dir in path.parents:
            continue
        found += [f"{path.relative_to(ROOT)}:{n}" for n, line in enumerate(path.read_text().splitlines(), 1)
                  if branch.search(line) and re.search(names, line)]
    for path in sorted((ROOT / "templates" / "setup" / "destinations").rglob("*.html")):
        if path.parent.name == "kinds":
            continue
        found += [f"{path.relative_to(ROOT)}:{n}" for n, line in enumerate(path.read_text().splitlines(), 1)
                  if branch.search(line)]
    assert found == []
