"""Country names for the map, the deck's country panel and the report's country dimension."""
import json
from functools import lru_cache
from pathlib import Path

COUNTRY_NAMES_FILE = Path(__file__).resolve().parent.parent.parent / "static" / "img" / "countries.json"


@lru_cache(maxsize=1)
def country_names() -> dict[str, str]:
    """ISO 3166 alpha-2 → English short name (from the map asset's build)."""
    return json.loads(COUNTRY_NAMES_FILE.read_text())
