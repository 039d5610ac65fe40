"""Country of an IP address from a MaxMind-format database (GeoLite2-Country, GeoIP2-City, …)."""
import os

import maxminddb


def check_database(path: str) -> None:
    """Raise ValueError unless `path` is a readable MaxMind-format database."""
    if not os.path.isfile(path):
        raise ValueError("must be the path of an existing .mmdb file")
    try:
        maxminddb.open_database(path).close()
    except (maxminddb.InvalidDatabaseError, OSError, ValueError) as exc:
        raise ValueError(f"is not a MaxMind-format database ({exc})") from None


class CountryDatabase:
    """An open .mmdb file answering ISO country codes; the file is memory-mapped once per process."""

    def __init__(self, path: str):
        self.reader = maxminddb.open_database(path, maxminddb.MODE_AUTO)

    def country(self, address: str | None) -> str | None:
        """The ISO 3166 alpha-2 code for `address`, or None when unknown or not an address."""
        if not address:
            return None
        try:
            record = self.reader.get(address)
        except ValueError:
            return None
        if not isinstance(record, dict):
            return None
        for key in ("country", "registered_country"):
            entry = record.get(key)
            code = entry.get("iso_code") if isinstance(entry, dict) else None
            if isinstance(code, str) and len(code) == 2 and code.isascii() and code.isalpha():
                return code.upper()
        return None

    def close(self) -> None:
        """Release the file."""
        self.reader.close()
