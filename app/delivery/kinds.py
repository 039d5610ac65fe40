"""The destination-kind registry: every kind is one module of app/delivery/destinations/, listed here once.

Adding a kind is a new module with the surface described in app/delivery/destinations/__init__.py,
its template `templates/setup/destinations/kinds/<kind>.html`, and one entry below. A rule the
module leaves out takes its plain answer (PLAIN_RULES), filled in here, once, at import.
"""
from types import ModuleType

from app.delivery.destinations import PLAIN_RULES, capi, postback, webhook


def _register(*modules: ModuleType) -> dict[str, ModuleType]:
    for module in modules:
        for name, rule in PLAIN_RULES.items():
            module.__dict__.setdefault(name, rule)
    return {module.KIND: module for module in modules}


KINDS: dict[str, ModuleType] = _register(capi, webhook, postback)
