"""The migrated schema is ready to be distributed by space_id (Citus): read from the catalog.

Every table is either space data, which must carry space_id and include it in its primary key,
every unique constraint or unique index, and every foreign key (so each of them can be enforced
inside one shard), or one of the reference tables listed below, which Citus copies to every node.
A distributed table may point at a reference table without space_id; a reference table may point
only at reference tables. See docs/scaling.md.
"""
import psycopg
import pytest

# Reference tables: the only tables allowed to break the space_id rules. Each one is small, shared
# by every space or looked up before any space is known, and replicated to every node.
REFERENCE_TABLES = {
    "schema_migrations": "the migration ledger, one row per applied file",
    "spaces": "the tenants themselves: space_id is their id, their slug is global",
    "users": "accounts, global by email; a user belongs to many spaces",
    "user_sessions": "a user's sign-in sessions, looked up by cookie digest before any space is known",
    "login_failures": "sign-in throttling per address and email, before any space is known",
    "form_submissions": "a user's one-shot form tokens (space_id is only a note of the space a form acted on)",
    "reference_rates": "currency rates per day, shared by every space",
    "global_names": "the directory of names that are unique across spaces (link slugs, verified hostnames, "
                    "Telegram bots): the lookup that finds the space before its shard is asked",
}


def _space_tables(conn) -> list[str]:
    return [r[0] for r in conn.execute(
        "SELECT c.relname FROM pg_class c WHERE c.relnamespace = 'public'::regnamespace"
        " AND c.relkind IN ('r', 'p') AND NOT c.relispartition ORDER BY 1")
        if r[0] not in REFERENCE_TABLES]


@pytest.fixture
def conn(servers):
    with psycopg.connect(servers.direct_url, autocommit=True) as found:
        yield found


def test_every_reference_table_exists(conn):
    tables = {r[0] for r in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")}
    assert set(REFERENCE_TABLES) - tables == set()


def test_every_table_of_space_data_carries_a_non_null_space_id(conn):
    missing = [t for t in _space_tables(conn) if not conn.execute(
        "SELECT 1 FROM information_schema.columns WHERE table_schema = 'public' AND table_name = %(t)s"
        " AND column_name = 'space_id' AND is_nullable = 'NO' AND data_type = 'bigint'", {"t": t}).fetchone()]
    assert missing == []


def test_every_primary_key_and_unique_index_of_space_data_includes_space_id(conn):
    # Unique constraints are backed by unique indexes, so pg_index sees both (partial ones too).
    rows = conn.execute(
        "SELECT c.relname, i.relname FROM pg_index x"
        " JOIN pg_class c ON c.oid = x.indrelid JOIN pg_class i ON i.oid = x.indexrelid"
        " WHERE c.relnamespace = 'public'::regnamespace AND NOT c.relispartition AND x.indisunique"
        " AND NOT EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attname = 'space_id'"
        "                 AND a.attnum = ANY (x.indkey))"
        " ORDER BY 1, 2").fetchall()
    assert [(t, i) for t, i in rows if t not in REFERENCE_TABLES] == []


def test_every_foreign_key_between_space_tables_matches_space_id_to_space_id(conn):
    rows = conn.execute(
        "SELECT k.conrelid::regclass::text, k.confrelid::regclass::text, k.conname,"
        " EXISTS (SELECT 1 FROM unnest(k.conkey, k.confkey) AS p(mine, theirs)"
        "         JOIN pg_attribute a ON a.attrelid = k.conrelid AND a.attnum = p.mine"
        "         JOIN pg_attribute b ON b.attrelid = k.confrelid AND b.attnum = p.theirs"
        "         WHERE a.attname = 'space_id' AND b.attname = 'space_id') AS by_space"
        " FROM pg_constraint k WHERE k.contype = 'f' AND k.connamespace = 'public'::regnamespace"
        " AND k.conparentid = 0 ORDER BY 3").fetchall()
    broken = [(table, name) for table, target, name, by_space in rows
              if table not in REFERENCE_TABLES and target not in REFERENCE_TABLES and not by_space]
    assert broken == []


def test_reference_tables_point_only_at_reference_tables(conn):
    rows = conn.execute(
        "SELECT conrelid::regclass::text, confrelid::regclass::text, conname FROM pg_constraint"
        " WHERE contype = 'f' AND connamespace = 'public'::regnamespace ORDER BY 3").fetchall()
    assert [(t, name) for t, target, name in rows if t in REFERENCE_TABLES and target not in REFERENCE_TABLES] == []


def test_the_rules_catch_a_table_that_breaks_them(conn):
    """The checks above are not vacuous: a global unique index on space data is found."""
    with conn.transaction(force_rollback=True):
        conn.execute("CREATE TABLE keys_probe (space_id bigint NOT NULL, name text NOT NULL,"
                     " PRIMARY KEY (space_id, name))")
        conn.execute("CREATE UNIQUE INDEX keys_probe_name_key ON keys_probe (name)")
        with pytest.raises(AssertionError):
            test_every_primary_key_and_unique_index_of_space_data_includes_space_id(conn)
        conn.execute("CREATE TABLE keys_probe_child (space_id bigint NOT NULL, id bigint NOT NULL, name text,"
                     " PRIMARY KEY (space_id, id), FOREIGN KEY (space_id, name) REFERENCES keys_probe (space_id, name))")
        test_every_foreign_key_between_space_tables_matches_space_id_to_space_id(conn)
        conn.execute("CREATE TABLE keys_probe_loose (space_id bigint NOT NULL, id bigint NOT NULL, other bigint,"
                     " name text, PRIMARY KEY (space_id, id), FOREIGN KEY (other, name) REFERENCES keys_probe (space_id, name))")
        with pytest.raises(AssertionError):
            test_every_foreign_key_between_space_tables_matches_space_id_to_space_id(conn)
        conn.execute("CREATE TABLE keys_probe_bare (id bigint PRIMARY KEY)")
        with pytest.raises(AssertionError):
            test_every_table_of_space_data_carries_a_non_null_space_id(conn)
