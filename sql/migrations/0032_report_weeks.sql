-- Reports read whole weeks from a week rollup, and the all-link rows of report_geo_days and report_hours
-- through an index that reaches them directly (docs/reports.md; app/report/query.py).
--
-- A 90-day report by link, campaign, ad set or ad read every day's rows of report_days: about
-- days × ads × currencies rows, so its time grew with the space's traffic until every ad had
-- rows every day. report_weeks holds the same figures summed by the local ISO week (Monday
-- first), fed by the same fold from the same deltas (fold_reports, below: one more INSERT from the
-- fold's `local` rows, beside report_days'), so its totals are report_days' exactly. A range
-- reads its whole weeks from report_weeks and its ragged ends (at most six days each side) from
-- report_days. Revenue in a currency other than the space's main currency is converted at the rate
-- of its day, so those rows are still read by day from report_days, through
-- report_days_currency_idx, which reaches them without the count rows (currency '').
--
-- A report by country, day, day of week or hour of day over all links reads the link_slug '*'
-- rows of report_geo_days / report_hours; their primary keys put the link after the day, so the
-- read scanned every link's rows of the range (or the whole table, in parallel). The two
-- (space_id, link_slug, day) indexes reach the '*' rows alone.
--
-- Existing spaces' weeks are summed here from their report_days.

CREATE TABLE report_weeks (
    space_id       bigint NOT NULL REFERENCES spaces (id) ON DELETE CASCADE,
    week           date NOT NULL CHECK (extract(isodow FROM week) = 1),
    link_slug      text NOT NULL,
    campaign_id    text NOT NULL,
    adset_id       text NOT NULL,
    ad_id          text NOT NULL,
    currency       text NOT NULL,
    clicks         bigint NOT NULL DEFAULT 0,
    contacts       bigint NOT NULL DEFAULT 0,
    subscribed     bigint NOT NULL DEFAULT 0,
    registrations  bigint NOT NULL DEFAULT 0,
    first_deposits bigint NOT NULL DEFAULT 0,
    deposits       bigint NOT NULL DEFAULT 0,
    revenue        numeric NOT NULL DEFAULT 0,
    PRIMARY KEY (space_id, week, link_slug, campaign_id, adset_id, ad_id, currency)
);

CREATE INDEX report_days_currency_idx ON report_days (space_id, currency, day);
CREATE INDEX report_geo_days_link_idx ON report_geo_days (space_id, link_slug, day);
CREATE INDEX report_hours_link_idx ON report_hours (space_id, link_slug, day);

INSERT INTO report_weeks (space_id, week, link_slug, campaign_id, adset_id, ad_id, currency, clicks, contacts,
                          subscribed, registrations, first_deposits, deposits, revenue)
SELECT space_id, date_trunc('week', day)::date, link_slug, campaign_id, adset_id, ad_id, currency, sum(clicks),
       sum(contacts), sum(subscribed), sum(registrations), sum(first_deposits), sum(deposits), sum(revenue)
FROM report_days
GROUP BY 1, 2, 3, 4, 5, 6, 7;

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
    ), weeks AS (
        INSERT INTO report_weeks AS r (space_id, week, link_slug, campaign_id, adset_id, ad_id, currency, clicks,
                                       contacts, subscribed, registrations, first_deposits, deposits, revenue)
        SELECT p_space_id, date_trunc('week', at)::date, link_slug, campaign_id, adset_id, ad_id, currency, sum(clicks),
               sum(contacts), sum(subscribed), sum(registrations), sum(first_deposits), sum(deposits), sum(revenue)
        FROM local GROUP BY 2, 3, 4, 5, 6, 7
        ON CONFLICT (space_id, week, link_slug, campaign_id, adset_id, ad_id, currency) DO UPDATE SET
            clicks = r.clicks + EXCLUDED.clicks, contacts = r.contacts + EXCLUDED.contacts,
            subscribed = r.subscribed + EXCLUDED.subscribed, registrations = r.registrations + EXCLUDED.registrations,
            first_deposits = r.first_deposits + EXCLUDED.first_deposits, deposits = r.deposits + EXCLUDED.deposits,
            revenue = r.revenue + EXCLUDED.revenue
    ), geo AS (
        INSERT INTO report_geo_days AS r (space_id, day, link_slug, country, currency, clicks, contacts, subscribed,
                                          registrations, first_deposits, deposits, revenue)
        SELECT p_space_id, at::date, CASE WHEN GROUPING(link_slug) = 1 THEN '*' ELSE link_slug END, country, currency,
               sum(clicks), sum(contacts), sum(subscribed), sum(registrations), sum(first_deposits), sum(deposits),
               sum(revenue)
        FROM local GROUP BY GROUPING SETS ((at::date, link_slug, country, currency), (at::date, country, currency))
        ON CONFLICT (space_id, day, link_slug, country, currency) DO UPDATE SET
            clicks = r.clicks + EXCLUDED.clicks, contacts = r.contacts + EXCLUDED.contacts,
            subscribed = r.subscribed + EXCLUDED.subscribed, registrations = r.registrations + EXCLUDED.registrations,
            first_deposits = r.first_deposits + EXCLUDED.first_deposits, deposits = r.deposits + EXCLUDED.deposits,
            revenue = r.revenue + EXCLUDED.revenue
    ), hours AS (
        INSERT INTO report_hours AS r (space_id, day, hour, link_slug, currency, clicks, contacts, subscribed,
                                       registrations, first_deposits, deposits, revenue)
        SELECT p_space_id, at::date, extract(hour FROM at)::smallint,
               CASE WHEN GROUPING(link_slug) = 1 THEN '*' ELSE link_slug END, currency, sum(clicks), sum(contacts),
               sum(subscribed), sum(registrations), sum(first_deposits), sum(deposits), sum(revenue)
        FROM local GROUP BY GROUPING SETS ((at::date, extract(hour FROM at), link_slug, currency),
                                           (at::date, extract(hour FROM at), currency))
        ON CONFLICT (space_id, day, hour, link_slug, currency) DO UPDATE SET
            clicks = r.clicks + EXCLUDED.clicks, contacts = r.contacts + EXCLUDED.contacts,
            subscribed = r.subscribed + EXCLUDED.subscribed, registrations = r.registrations + EXCLUDED.registrations,
            first_deposits = r.first_deposits + EXCLUDED.first_deposits, deposits = r.deposits + EXCLUDED.deposits,
            revenue = r.revenue + EXCLUDED.revenue
    ), cross_days AS (
        INSERT INTO report_cross_days AS r (space_id, day, link_slug, campaign_id, adset_id, ad_id, country, currency,
                                            clicks, contacts, subscribed, registrations, first_deposits, deposits,
                                            revenue)
        SELECT p_space_id, at::date, link_slug, campaign_id, adset_id, ad_id, country, currency, sum(clicks),
               sum(contacts), sum(subscribed), sum(registrations), sum(first_deposits), sum(deposits), sum(revenue)
        FROM local GROUP BY 2, 3, 4, 5, 6, 7, 8
        ON CONFLICT (space_id, day, link_slug, campaign_id, adset_id, ad_id, country, currency) DO UPDATE SET
            clicks = r.clicks + EXCLUDED.clicks, contacts = r.contacts + EXCLUDED.contacts,
            subscribed = r.subscribed + EXCLUDED.subscribed, registrations = r.registrations + EXCLUDED.registrations,
            first_deposits = r.first_deposits + EXCLUDED.first_deposits, deposits = r.deposits + EXCLUDED.deposits,
            revenue = r.revenue + EXCLUDED.revenue
    ), cross_hours AS (
        INSERT INTO report_cross_hours AS r (space_id, day, hour, link_slug, campaign_id, adset_id, ad_id, country,
                                             currency, clicks, contacts, subscribed, registrations, first_deposits,
                                             deposits, revenue)
        SELECT p_space_id, at::date, extract(hour FROM at)::smallint, link_slug, campaign_id, adset_id, ad_id, country,
               currency, sum(clicks), sum(contacts), sum(subscribed), sum(registrations), sum(first_deposits),
               sum(deposits), sum(revenue)
        FROM local GROUP BY 2, 3, 4, 5, 6, 7, 8, 9
        ON CONFLICT (space_id, day, hour, link_slug, campaign_id, adset_id, ad_id, country, currency) DO UPDATE SET
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

CREATE OR REPLACE FUNCTION report_rebuild(p_space_id bigint) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM report_deltas WHERE space_id = p_space_id;
    DELETE FROM cohort_deltas WHERE space_id = p_space_id;
    DELETE FROM report_days WHERE space_id = p_space_id;
    DELETE FROM report_weeks WHERE space_id = p_space_id;
    DELETE FROM report_geo_days WHERE space_id = p_space_id;
    DELETE FROM report_hours WHERE space_id = p_space_id;
    DELETE FROM report_cross_days WHERE space_id = p_space_id;
    DELETE FROM report_cross_hours WHERE space_id = p_space_id;
    DELETE FROM cohort_days WHERE space_id = p_space_id;
    INSERT INTO report_deltas (space_id, slot, kind, link_slug, campaign_id, adset_id, ad_id, country, n,
                               campaign_name, adset_name, ad_name)
    SELECT p_space_id, xt_slot(created_at), 'click', coalesce(link_slug, ''), coalesce(campaign_id, ''),
           coalesce(adset_id, ''), coalesce(ad_id, ''), coalesce(country, ''), count(*),
           max(campaign_name), max(adset_name), max(ad_name)
    FROM clicks WHERE space_id = p_space_id GROUP BY 2, 4, 5, 6, 7, 8;
    INSERT INTO report_deltas (space_id, slot, kind, link_slug, campaign_id, adset_id, ad_id, country, n)
    SELECT p_space_id, xt_slot(s.at), 'stage:' || s.stage, coalesce(c.link_slug, ''), coalesce(c.campaign_id, ''),
           coalesce(c.adset_id, ''), coalesce(c.ad_id, ''), coalesce(c.country, ''), count(*)
    FROM journeys j
    CROSS JOIN LATERAL (VALUES ('contact', j.contact_at), ('subscribed', j.subscribed_at),
                               ('registration', j.registration_at), ('deposit', j.deposit_at)) AS s(stage, at)
    LEFT JOIN clicks c ON c.space_id = j.space_id AND c.uid = j.uid AND j.clicked_at IS NOT NULL
    WHERE j.space_id = p_space_id AND s.at IS NOT NULL
    GROUP BY 2, 3, 4, 5, 6, 7, 8;
    INSERT INTO report_deltas (space_id, slot, kind, link_slug, campaign_id, adset_id, ad_id, country, currency, n, amount)
    SELECT p_space_id, xt_slot(to_timestamp(e.occurred_at_ms / 1000.0)), k.kind, coalesce(c.link_slug, ''),
           coalesce(c.campaign_id, ''), coalesce(c.adset_id, ''), coalesce(c.ad_id, ''), coalesce(c.country, ''),
           k.currency, count(*), sum(k.amount)
    FROM events e
    LEFT JOIN clicks c ON c.space_id = e.space_id AND c.uid = e.uid
    CROSS JOIN LATERAL (
        SELECT 'event:deposit' AS kind, '' AS currency, 0::numeric AS amount
        UNION ALL
        SELECT 'revenue', e.currency, e.value WHERE e.value IS NOT NULL
    ) k
    WHERE e.space_id = p_space_id AND e.event = 'deposit' AND NOT xt_is_test(to_jsonb(e))
    GROUP BY 2, 3, 4, 5, 6, 7, 8, 9;
    INSERT INTO cohort_deltas (space_id, basis, cohort_slot, slot, link_slug, currency, n, amount)
    SELECT p_space_id, b.basis, xt_slot(b.at), xt_slot(to_timestamp(e.occurred_at_ms / 1000.0)),
           coalesce(c.link_slug, ''), e.currency, count(*), sum(coalesce(e.value, 0))
    FROM events e
    LEFT JOIN clicks c ON c.space_id = e.space_id AND c.uid = e.uid
    LEFT JOIN journeys j ON j.space_id = e.space_id AND j.uid = e.uid
    CROSS JOIN LATERAL (VALUES ('click', c.created_at), ('registration', j.registration_at)) AS b(basis, at)
    WHERE e.space_id = p_space_id AND e.event = 'deposit' AND b.at IS NOT NULL AND NOT xt_is_test(to_jsonb(e))
    GROUP BY 2, 3, 4, 5, 6;
    PERFORM fold_reports(p_space_id);
END $$;
