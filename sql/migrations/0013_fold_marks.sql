-- Transaction-level fold locking that is safe behind PgBouncer in transaction mode.
--
-- Folds and rebuilds of one space are serialised by the transaction-level advisory lock
-- 'xt:fold:<space id>' (fold_rollups() has always taken it). A rebuild runs in one REPEATABLE
-- READ transaction whose snapshot is taken by its first statement, i.e. before it waits for
-- that lock: a fold committed while it waited would be invisible to it. So every fold that
-- folds something also bumps its space's row in rollup_fold_marks, and rollup_rebuild_lock()
-- takes the lock and then bumps the same row: at REPEATABLE READ that update fails with a
-- serialization failure when a fold committed after the snapshot (the caller retries with a
-- fresh snapshot), and once it succeeds no fold can run until the rebuild commits.
-- A fold with nothing to fold writes nothing, as before.

CREATE TABLE rollup_fold_marks (
    space_id bigint PRIMARY KEY REFERENCES spaces (id) ON DELETE CASCADE,
    folds bigint NOT NULL DEFAULT 0
);

CREATE FUNCTION rollup_fold_lock(p_space_id bigint) RETURNS void LANGUAGE sql AS $$
    SELECT pg_advisory_xact_lock(hashtextextended('xt:fold:' || p_space_id, 0));
$$;

CREATE FUNCTION rollup_rebuild_lock(p_space_id bigint) RETURNS void LANGUAGE sql AS $$
    SELECT rollup_fold_lock(p_space_id);
    INSERT INTO rollup_fold_marks AS m (space_id, folds) VALUES (p_space_id, 1)
    ON CONFLICT (space_id) DO UPDATE SET folds = m.folds + 1;
$$;

CREATE OR REPLACE FUNCTION fold_rollups(p_space_id bigint) RETURNS bigint LANGUAGE sql AS $$
    SELECT rollup_fold_lock(p_space_id);
    WITH gone AS (
        DELETE FROM rollup_deltas WHERE space_id = p_space_id
        RETURNING slot, kind, link_slug, country, currency, n, amount
    ), local AS (
        SELECT (g.slot AT TIME ZONE s.time_zone)::date AS day, g.kind, g.link_slug, g.country, g.currency,
               g.n, g.amount
        FROM gone g JOIN spaces s ON s.id = p_space_id
    ), quarters AS (
        INSERT INTO rollup_quarters AS r (space_id, link_slug, slot, kind, n)
        SELECT p_space_id, CASE WHEN GROUPING(link_slug) = 1 THEN '*' ELSE link_slug END, slot, kind, sum(n)
        FROM gone WHERE kind LIKE 'event:%'
        GROUP BY GROUPING SETS ((slot, kind, link_slug), (slot, kind))
        ON CONFLICT (space_id, link_slug, slot, kind) DO UPDATE SET n = r.n + EXCLUDED.n
    ), days AS (
        INSERT INTO rollup_days AS r (space_id, link_slug, day, kind, currency, n, amount)
        SELECT p_space_id, CASE WHEN GROUPING(link_slug) = 1 THEN '*' ELSE link_slug END, day, kind, currency,
               sum(n), sum(amount)
        FROM local
        GROUP BY GROUPING SETS ((day, kind, currency, link_slug), (day, kind, currency))
        ON CONFLICT (space_id, link_slug, day, kind, currency)
        DO UPDATE SET n = r.n + EXCLUDED.n, amount = r.amount + EXCLUDED.amount
    ), geo AS (
        INSERT INTO rollup_geo_days AS r (space_id, link_slug, day, kind, country, n)
        SELECT p_space_id, CASE WHEN GROUPING(link_slug) = 1 THEN '*' ELSE link_slug END, day, kind, country, sum(n)
        FROM local WHERE country <> '' AND kind IN ('click', 'stage:deposit')
        GROUP BY GROUPING SETS ((day, kind, country, link_slug), (day, kind, country))
        ON CONFLICT (space_id, link_slug, day, kind, country) DO UPDATE SET n = r.n + EXCLUDED.n
    ), mark AS (
        INSERT INTO rollup_fold_marks AS m (space_id, folds)
        SELECT p_space_id, 1 WHERE EXISTS (SELECT 1 FROM gone)
        ON CONFLICT (space_id) DO UPDATE SET folds = m.folds + 1
    )
    SELECT count(*) FROM gone;
$$;
