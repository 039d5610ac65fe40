"""The packages of app/ stand on floors: a package imports only packages on lower floors.

Every `import app.x` and `from app(.x) import …` counts, at module level or inside a function
(a deferred import is still a dependency); imports under `if TYPE_CHECKING:` do not run and do not
count. A cycle between packages is an upward arrow by construction, so this also forbids cycles.
"""
import ast
from pathlib import Path

import pytest

APP = Path(__file__).resolve().parent.parent / "app"

# Bottom first. A module directly under app/ (db.py, config.py) counts as a package of its own;
# "app" is app/__init__.py, the composition root.
FLOORS = (
    {"services"},                             # the per-process services, named and typed (no imports)
    {"db"},                                   # the pool, transactions, StorageUnavailable
    {"lib"},                                  # small pure helpers
    {"config", "pubsub", "live"},             # settings; Redis client and channels; the live hub (transport)
    {"space", "auth", "reporting"},           # spaces and credentials; rollups and report filters
    {"rate", "web"},                          # exchange rates; sessions and screen helpers
    {"conversion"},                           # THE CORE: events, their rules, writes, announcement
    {"received", "delivery", "telegram"},     # consumers of the core (and the Telegram funnel)
    {"link"},                                 # links (their channel kind asks the Telegram pool)
    {"ingress", "landing"},                   # entry points
    {"report", "cost"},                       # report API and cost pages
    {"dashboard"},                            # the deck
    {"setup", "docs", "health"},              # settings screens, docs, health
    {"cli"},                                  # command line
    {"app"},                                  # the app factory: builds and wires everything
)
CORE = "conversion"
# Entry points and consumers import the core, never one another.
ENTRY_POINTS = {"ingress", "landing", "telegram"}
CONSUMERS = {"delivery", "received", "dashboard"}
# The arrows between them that remain, each with its reason; this list only ever shrinks.
KNOWN_CROSSINGS = {
    ("landing", "telegram"): "a channel link's landing takes a per-click invite link from the Telegram pool",
    ("dashboard", "delivery"): "the deck's delivery matrix reads the outbox through delivery's store",
}


def _floor_of(package: str) -> int:
    for number, floor in enumerate(FLOORS):
        if package in floor:
            return number
    raise AssertionError(f"package {package!r} is on no floor: add it to FLOORS in tests/test_layering.py")


def _package_of(path: Path) -> str:
    parts = path.relative_to(APP).with_suffix("").parts
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return parts[0] if parts else "app"


def _imported(tree: ast.AST) -> list[tuple[int, str]]:
    """(line, imported package) for every app import that runs (skipping `if TYPE_CHECKING:` blocks)."""
    skipped = {id(node) for guard in ast.walk(tree) if isinstance(guard, ast.If)
               and isinstance(guard.test, ast.Name) and guard.test.id == "TYPE_CHECKING"
               for stmt in guard.body for node in ast.walk(stmt)}
    found = []
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = ([f"app.{alias.name}" for alias in node.names] if node.module == "app" else [node.module])
        else:
            continue
        found += [(node.lineno, name.split(".")[1]) for name in names if name.startswith("app.")]
    return found


def _arrows() -> list[tuple[str, str, str]]:
    """(importing package, imported package, where) for every import between two packages of app/."""
    arrows = []
    for path in sorted(APP.rglob("*.py")):
        source = _package_of(path)
        for line, target in _imported(ast.parse(path.read_text(), str(path))):
            if target != source:
                arrows.append((source, target, f"{path.relative_to(APP.parent)}:{line}"))
    return arrows


def test_every_package_is_on_a_floor():
    packages = {_package_of(path) for path in APP.rglob("*.py")}
    for package in packages:
        _floor_of(package)


def test_no_package_imports_one_on_its_own_floor_or_above():
    upward = [f"{where}: {source} (floor {_floor_of(source)}) imports {target} (floor {_floor_of(target)})"
              for source, target, where in _arrows() if _floor_of(target) >= _floor_of(source)]
    assert upward == []


def test_the_core_imports_only_the_floors_below_it():
    allowed = set().union(*FLOORS[:_floor_of(CORE)])
    assert [where for source, target, where in _arrows() if source == CORE and target not in allowed] == []


def test_entry_points_and_consumers_import_the_core_never_one_another():
    sides = ENTRY_POINTS | CONSUMERS
    crossing = [f"{where}: {source} imports {target}" for source, target, where in _arrows()
                if source in sides and target in sides and (source, target) not in KNOWN_CROSSINGS]
    assert crossing == []


@pytest.mark.parametrize("crossing", sorted(KNOWN_CROSSINGS))
def test_every_known_crossing_still_exists(crossing):
    """A crossing that is gone leaves the list, so the list stays the truth."""
    assert crossing in {(source, target) for source, target, _ in _arrows()}
