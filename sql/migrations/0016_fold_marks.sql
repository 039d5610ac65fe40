-- Transaction-level fold locking that is safe behind PgBouncer in transaction mode.
--
-- Folds (the deck's fold_rollups() and the reports' fold_reports()) and rebuilds of one space are
-- serialised by the transaction-level advisory lock 'xt:fold:<space id>' (both folds took it
-- already). A rebuild runs in one REPEATABLE READ transaction whose snapshot is taken by its first
-- statement, i.e. before it waits for that lock: a fold committed while it waited would be
-- invisible to it. So every fold that
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

CREATE OR REPLACE FUNCTION fold_reports(p_space_id bigint) RETURNS bigint LANGUAGE sql AS $$
    SELECT rollup_fold_lock(p_space_id);
    WITH gone AS (
        DELETE FROM report_deltas WHERE space_id = p_space_id
        RETURNING slot, kind, link_slug, campaign_id, adset_id, ad_id, country, currency, n, amount,
                  campaign_name, adset_name, ad_name
    ), local AS (
        SELECT (g.slot AT TIME ZONE s.time_zone) AS at, g.*,
               CASE WHEN g.kind = 'click' THEN g.n ELSE 0 END AS clicks,
               CASE WHEN g.kind = 'stage:contact' THEN g.n ELSE 0 END AS contacts,
               CASE WHEN g.kind = 'stage:subscribed' THEN g.n ELSE 0 END AS subscribed,
               CASE WHEN g.kind = 'stage:registration' THEN g.n ELSE 0 END AS registrations,
               CASE WHEN g.kind = 'stage:deposit' THEN g.n ELSE 0 END AS first_deposits,
               CASE WHEN g.kind = 'event:deposit' THEN g.n ELSE 0 END AS deposits,
               CASE WHEN g.kind = 'revenue' THEN g.amount ELSE 0 END AS revenue
        FROM gone g JOIN spaces s ON s.id = p_space_id
    ), days AS (
        INSERT INTO report_days AS r (space_id, day, link_slug, campaign_id, adset_id, ad_id, currency, clicks, contacts,
                                      subscribed, registrations, first_deposits, deposits, revenue)
        SELECT p_space_id, at::date, link_slug, campaign_id, adset_id, ad_id, currency, sum(clicks), sum(contacts),
               sum(subscribed), sum(registrations), sum(first_deposits), sum(deposits), sum(revenue)
        FROM local GROUP BY 2, 3, 4, 5, 6, 7
        ON CONFLICT (space_id, day, link_slug, campaign_id, adset_id, ad_id, currency) DO UPDATE SET
            clicks = r.clicks + EXCLUDED.clicks, contacts = r.contacts + EXCLUDED.contacts,
            subscribed = r.subscribed + EXCLUDED.subscribed, registrations = r.registrations + EXCLUDED.registrations,
            first_deposits = r.first_deposits + EXCLUDED.first_deposits, deposits = r.deposits + EXCLUDED.deposits,
            revenue = r.revenue + EXCLUDED.revenue
    ), geo AS (
        INSERT INTO report_geo_days AS r (space_id, day, link_slug, country, currency, clicks, contacts, subscribed,
                                          registrations, first_deposits, deposits, revenue)
        SELECT p_space_id, at::date, link_slug, country, currency, sum(clicks), sum(contacts), sum(subscribed),
               sum(registrations), sum(first_deposits), sum(deposits), sum(revenue)
        FROM local GROUP BY 2, 3, 4, 5
        ON CONFLICT (space_id, day, link_slug, country, currency) DO UPDATE SET
            clicks = r.clicks + EXCLUDED.clicks, contacts = r.contacts + EXCLUDED.contacts,
            subscribed = r.subscribed + EXCLUDED.subscribed, registrations = r.registrations + EXCLUDED.registrations,
            first_deposits = r.first_deposits + EXCLUDED.first_deposits, deposits = r.deposits + EXCLUDED.deposits,
            revenue = r.revenue + EXCLUDED.revenue
    ), hours AS (
        INSERT INTO report_hours AS r (space_id, day, hour, link_slug, currency, clicks, contacts, subscribed,
                                       registrations, first_deposits, deposits, revenue)
        SELECT p_space_id, at::date, extract(hour FROM at)::smallint, link_slug, currency, sum(clicks), sum(contacts),
               sum(subscribed), sum(registrations), sum(first_deposits), sum(deposits), sum(revenue)
        FROM local GROUP BY 2, 3, 4, 5
        ON CONFLICT (space_id, day, hour, link_slug, currency) DO UPDATE SET
            clicks = r.clicks + EXCLUDED.clicks, contacts = r.contacts + EXCLUDED.contacts,
            subscribed = r.subscribed + EXCLUDED.subscribed, registrations = r.registrations + EXCLUDED.registrations,
            first_deposits = r.first_deposits + EXCLUDED.first_deposits, deposits = r.deposits + EXCLUDED.deposits,
            revenue = r.revenue + EXCLUDED.revenue
    ), labels AS (
        INSERT INTO report_labels AS r (space_id, dimension, key, name)
        SELECT p_space_id, l.dimension, l.key, max(l.name)
        FROM gone g
        CROSS JOIN LATERAL (VALUES ('campaign', g.campaign_id, g.campaign_name), ('adset', g.adset_id, g.adset_name),
                                   ('ad', g.ad_id, g.ad_name)) AS l(dimension, key, name)
        WHERE g.kind = 'click' AND l.key <> '' AND l.name IS NOT NULL AND l.name <> ''
        GROUP BY 2, 3
        ON CONFLICT (space_id, dimension, key) DO UPDATE SET name = EXCLUDED.name
    ), cohort_gone AS (
        DELETE FROM cohort_deltas WHERE space_id = p_space_id
        RETURNING basis, cohort_slot, slot, link_slug, currency, n, amount
    ), cohorts AS (
        INSERT INTO cohort_days AS r (space_id, basis, cohort_day, age, link_slug, currency, deposits, revenue)
        SELECT p_space_id, c.basis, (c.cohort_slot AT TIME ZONE s.time_zone)::date,
               greatest(0, (c.slot AT TIME ZONE s.time_zone)::date - (c.cohort_slot AT TIME ZONE s.time_zone)::date),
               c.link_slug, c.currency, sum(c.n), sum(c.amount)
        FROM cohort_gone c JOIN spaces s ON s.id = p_space_id
        GROUP BY 2, 3, 4, 5, 6
        ON CONFLICT (space_id, basis, cohort_day, age, link_slug, currency)
        DO UPDATE SET deposits = r.deposits + EXCLUDED.deposits, revenue = r.revenue + EXCLUDED.revenue
    ), mark AS (
        INSERT INTO rollup_fold_marks AS m (space_id, folds)
        SELECT p_space_id, 1 WHERE EXISTS (SELECT 1 FROM gone) OR EXISTS (SELECT 1 FROM cohort_gone)
        ON CONFLICT (space_id) DO UPDATE SET folds = m.folds + 1
    )
    SELECT (SELECT count(*) FROM gone) + (SELECT count(*) FROM cohort_gone);
$$;
