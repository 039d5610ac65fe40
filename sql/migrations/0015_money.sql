-- Money: costs, exchange rates, report keys, and the report and cohort rollups (docs/costs.md,
-- docs/reports.md).
--
-- Reports read rollups fed the way the deck's are (0005, 0006): statement triggers on clicks,
-- journeys and events append signed deltas to report_deltas and cohort_deltas; fold_reports()
-- moves a space's deltas into the folded tables, keyed by the report's grouping dimensions.
-- Counts are pivoted into columns, so a row is one (day, dimensions) pair: the row with
-- currency '' holds the counts, rows with a currency hold that currency's revenue.
-- A journey and its events belong to the link, campaign, ad set, ad and country of its click
-- ('' before the click), exactly as on the deck, so every report's totals equal the deck's.
-- Events flagged as test events (a boolean `test` column, when the events table has one) are
-- left out; the flag is read through to_jsonb so these triggers work with and without it.

-- Spend per day (in the space's zone) and scope: a link (slug) or a Facebook campaign, ad set
-- or ad id as carried by the clicks. Re-sending the same (day, scope, scope_id) replaces it.
CREATE TABLE costs (
    space_id   bigint NOT NULL REFERENCES spaces (id) ON DELETE CASCADE,
    day        date NOT NULL,
    scope      text NOT NULL CHECK (scope IN ('link', 'campaign', 'adset', 'ad')),
    scope_id   text NOT NULL CHECK (length(scope_id) BETWEEN 1 AND 200),
    amount     numeric(24, 6) NOT NULL CHECK (amount >= 0),
    currency   text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    source     text NOT NULL CHECK (source IN ('form', 'csv', 'api')),
    updated_at timestamptz NOT NULL,
    PRIMARY KEY (space_id, day, scope, scope_id)
);

-- Reference rates as published (the ECB's: units of `currency` per 1 EUR on `day`). Public
-- reference data shared by every space (a reference table under Citus), not space data.
CREATE TABLE reference_rates (
    day        date NOT NULL,
    currency   text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    per_eur    numeric NOT NULL CHECK (per_eur > 0),
    source     text NOT NULL,
    fetched_at timestamptz NOT NULL,
    PRIMARY KEY (day, currency)
);

-- A space's own rates, for currencies the reference source lacks: 1 `currency` = `rate` `quote` on `day`.
CREATE TABLE space_rates (
    space_id   bigint NOT NULL REFERENCES spaces (id) ON DELETE CASCADE,
    day        date NOT NULL,
    currency   text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    quote      text NOT NULL CHECK (quote ~ '^[A-Z]{3}$' AND quote <> currency),
    rate       numeric NOT NULL CHECK (rate > 0),
    updated_at timestamptz NOT NULL,
    PRIMARY KEY (space_id, day, currency, quote)
);

-- Read-only report keys (GET /reports with a key that can write nothing), named by their creator.
ALTER TABLE api_keys DROP CONSTRAINT api_keys_kind_check;
ALTER TABLE api_keys ADD CONSTRAINT api_keys_kind_check CHECK (kind IN ('bearer', 'ingest', 'report'));
ALTER TABLE api_keys ADD COLUMN label text CHECK (length(label) <= 100);

CREATE TABLE report_deltas (
    space_id      bigint NOT NULL REFERENCES spaces (id) ON DELETE CASCADE,
    slot          timestamptz NOT NULL,
    kind          text NOT NULL,  -- click, stage:<stage>, event:deposit, revenue
    link_slug     text NOT NULL DEFAULT '',
    campaign_id   text NOT NULL DEFAULT '',
    adset_id      text NOT NULL DEFAULT '',
    ad_id         text NOT NULL DEFAULT '',
    country       text NOT NULL DEFAULT '',
    currency      text NOT NULL DEFAULT '',
    n             bigint NOT NULL,
    amount        numeric NOT NULL DEFAULT 0,
    -- Click deltas carry the names the click came with; the fold keeps the latest as labels.
    campaign_name text,
    adset_name    text,
    ad_name       text
);
CREATE INDEX report_deltas_space_idx ON report_deltas (space_id);

-- Deposits by the (local) day of their journey's click or registration and the deposit's own slot.
CREATE TABLE cohort_deltas (
    space_id    bigint NOT NULL REFERENCES spaces (id) ON DELETE CASCADE,
    basis       text NOT NULL,  -- click, registration
    cohort_slot timestamptz NOT NULL,
    slot        timestamptz NOT NULL,
    link_slug   text NOT NULL DEFAULT '',
    currency    text NOT NULL,
    n           bigint NOT NULL,
    amount      numeric NOT NULL DEFAULT 0
);
CREATE INDEX cohort_deltas_space_idx ON cohort_deltas (space_id);

-- Days by link, campaign, ad set and ad (campaign/ad set/ad ids as the clicks carry them).
CREATE TABLE report_days (
    space_id       bigint NOT NULL REFERENCES spaces (id) ON DELETE CASCADE,
    day            date NOT NULL,
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
    PRIMARY KEY (space_id, day, link_slug, campaign_id, adset_id, ad_id, currency)
);

-- Days by link and country.
CREATE TABLE report_geo_days (
    space_id       bigint NOT NULL REFERENCES spaces (id) ON DELETE CASCADE,
    day            date NOT NULL,
    link_slug      text NOT NULL,
    country        text NOT NULL,
    currency       text NOT NULL,
    clicks         bigint NOT NULL DEFAULT 0,
    contacts       bigint NOT NULL DEFAULT 0,
    subscribed     bigint NOT NULL DEFAULT 0,
    registrations  bigint NOT NULL DEFAULT 0,
    first_deposits bigint NOT NULL DEFAULT 0,
    deposits       bigint NOT NULL DEFAULT 0,
    revenue        numeric NOT NULL DEFAULT 0,
    PRIMARY KEY (space_id, day, link_slug, country, currency)
);

-- Local hours of the day by link.
CREATE TABLE report_hours (
    space_id       bigint NOT NULL REFERENCES spaces (id) ON DELETE CASCADE,
    day            date NOT NULL,
    hour           smallint NOT NULL CHECK (hour BETWEEN 0 AND 23),
    link_slug      text NOT NULL,
    currency       text NOT NULL,
    clicks         bigint NOT NULL DEFAULT 0,
    contacts       bigint NOT NULL DEFAULT 0,
    subscribed     bigint NOT NULL DEFAULT 0,
    registrations  bigint NOT NULL DEFAULT 0,
    first_deposits bigint NOT NULL DEFAULT 0,
    deposits       bigint NOT NULL DEFAULT 0,
    revenue        numeric NOT NULL DEFAULT 0,
    PRIMARY KEY (space_id, day, hour, link_slug, currency)
);

-- The latest name seen on a click for each campaign, ad set and ad id.
CREATE TABLE report_labels (
    space_id  bigint NOT NULL REFERENCES spaces (id) ON DELETE CASCADE,
    dimension text NOT NULL CHECK (dimension IN ('campaign', 'adset', 'ad')),
    key       text NOT NULL,
    name      text NOT NULL,
    PRIMARY KEY (space_id, dimension, key)
);

-- Deposits and revenue by cohort day and age in days (deposit's local day - cohort's local day).
CREATE TABLE cohort_days (
    space_id   bigint NOT NULL REFERENCES spaces (id) ON DELETE CASCADE,
    basis      text NOT NULL CHECK (basis IN ('click', 'registration')),
    cohort_day date NOT NULL,
    age        integer NOT NULL,
    link_slug  text NOT NULL,
    currency   text NOT NULL,
    deposits   bigint NOT NULL,
    revenue    numeric NOT NULL,
    PRIMARY KEY (space_id, basis, cohort_day, age, link_slug, currency)
);

CREATE FUNCTION xt_is_test(row_json jsonb) RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$ SELECT coalesce((row_json ->> 'test')::boolean, false) $$;

-- Clicks: count; events (and their cohorts) that arrived before their click move to its dimensions.
CREATE FUNCTION report_clicks_inserted() RETURNS trigger LANGUAGE plpgsql AS $fn$
BEGIN
    INSERT INTO report_deltas (space_id, slot, kind, link_slug, campaign_id, adset_id, ad_id, country, n,
                               campaign_name, adset_name, ad_name)
    SELECT space_id, xt_slot(created_at), 'click', coalesce(link_slug, ''), coalesce(campaign_id, ''),
           coalesce(adset_id, ''), coalesce(ad_id, ''), coalesce(country, ''), count(*),
           max(campaign_name), max(adset_name), max(ad_name)
    FROM new_clicks
    GROUP BY 1, 2, 3, 4, 5, 6, 7, 8;

    WITH placed AS (
        SELECT c.space_id, c.uid, c.created_at, coalesce(c.link_slug, '') AS link, coalesce(c.campaign_id, '') AS campaign,
               coalesce(c.adset_id, '') AS adset, coalesce(c.ad_id, '') AS ad, coalesce(c.country, '') AS country
        FROM new_clicks c
    ), earlier AS (
        SELECT p.*, e.event, e.value, e.currency, xt_slot(to_timestamp(e.occurred_at_ms / 1000.0)) AS slot
        FROM placed p JOIN events e ON e.space_id = p.space_id AND e.uid = p.uid
        WHERE NOT xt_is_test(to_jsonb(e))
    ), moved AS (
        INSERT INTO report_deltas (space_id, slot, kind, link_slug, campaign_id, adset_id, ad_id, country, currency, n, amount)
        SELECT e.space_id, e.slot, k.kind, side.link, side.campaign, side.adset, side.ad, side.country, k.currency,
               sum(side.sign), sum(side.sign * k.amount)
        FROM earlier e
        CROSS JOIN LATERAL (
            SELECT 'event:deposit' AS kind, '' AS currency, 0::numeric AS amount WHERE e.event = 'deposit'
            UNION ALL
            SELECT 'revenue', e.currency, e.value WHERE e.event = 'deposit' AND e.value IS NOT NULL
        ) k
        CROSS JOIN LATERAL (VALUES (-1, '', '', '', '', ''), (1, e.link, e.campaign, e.adset, e.ad, e.country))
            AS side(sign, link, campaign, adset, ad, country)
        WHERE (e.link, e.campaign, e.adset, e.ad, e.country) <> ('', '', '', '', '')
        GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9
        RETURNING 1
    )
    INSERT INTO cohort_deltas (space_id, basis, cohort_slot, slot, link_slug, currency, n, amount)
    SELECT e.space_id, b.basis, b.cohort_slot, e.slot, b.link, e.currency, sum(b.sign), sum(b.sign * coalesce(e.value, 0))
    FROM earlier e
    LEFT JOIN journeys j ON j.space_id = e.space_id AND j.uid = e.uid
    CROSS JOIN LATERAL (
        SELECT 'click' AS basis, xt_slot(e.created_at) AS cohort_slot, e.link AS link, 1 AS sign
        UNION ALL
        SELECT 'registration', xt_slot(j.registration_at), s.link, s.sign
        FROM (VALUES ('', -1), (e.link, 1)) AS s(link, sign)
        WHERE j.registration_at IS NOT NULL AND e.link <> ''
    ) b
    WHERE e.event = 'deposit'
    GROUP BY 1, 2, 3, 4, 5, 6;
    RETURN NULL;
END $fn$;

CREATE TRIGGER clicks_report AFTER INSERT ON clicks
    REFERENCING NEW TABLE AS new_clicks
    FOR EACH STATEMENT EXECUTE FUNCTION report_clicks_inserted();

-- A journey's stage times and click moved: the old bucket loses one, the new gains one (as on the
-- deck); a changed registration time moves the journey's deposits between registration cohorts.
CREATE FUNCTION report_journey_changes(changes journey_change[]) RETURNS void LANGUAGE plpgsql AS $fn$
BEGIN
    WITH placed AS (
        SELECT ch.*, coalesce(c.link_slug, '') AS link, coalesce(c.campaign_id, '') AS campaign,
               coalesce(c.adset_id, '') AS adset, coalesce(c.ad_id, '') AS ad, coalesce(c.country, '') AS country
        FROM unnest(changes) AS ch
        LEFT JOIN clicks c ON ch.new_clicked IS NOT NULL AND c.space_id = ch.space_id AND c.uid = ch.uid
    ), moves AS (
        SELECT pl.space_id, s.stage, pl.old_at[s.i] AS old_at, pl.new_at[s.i] AS new_at,
               pl.old_clicked IS NOT NULL AS old_placed,
               pl.link, pl.campaign, pl.adset, pl.ad, pl.country
        FROM placed pl
        CROSS JOIN (VALUES (1, 'contact'), (2, 'subscribed'), (3, 'registration'), (4, 'deposit')) AS s(i, stage)
    ), changed AS (
        SELECT * FROM moves
        WHERE NOT (old_at IS NOT DISTINCT FROM new_at
                   AND (old_placed OR (link, campaign, adset, ad, country) = ('', '', '', '', '')))
    )
    INSERT INTO report_deltas (space_id, slot, kind, link_slug, campaign_id, adset_id, ad_id, country, n)
    SELECT space_id, xt_slot(at), 'stage:' || stage, link, campaign, adset, ad, country, sum(n)
    FROM (
        SELECT space_id, stage, old_at AS at,
               CASE WHEN old_placed THEN link ELSE '' END AS link, CASE WHEN old_placed THEN campaign ELSE '' END AS campaign,
               CASE WHEN old_placed THEN adset ELSE '' END AS adset, CASE WHEN old_placed THEN ad ELSE '' END AS ad,
               CASE WHEN old_placed THEN country ELSE '' END AS country, -1 AS n
        FROM changed WHERE old_at IS NOT NULL
        UNION ALL
        SELECT space_id, stage, new_at, link, campaign, adset, ad, country, 1
        FROM changed WHERE new_at IS NOT NULL
    ) d
    GROUP BY 1, 2, 3, 4, 5, 6, 7, 8;

    INSERT INTO cohort_deltas (space_id, basis, cohort_slot, slot, link_slug, currency, n, amount)
    SELECT ch.space_id, 'registration', xt_slot(side.at), xt_slot(to_timestamp(e.occurred_at_ms / 1000.0)),
           click_link(ch.space_id, ch.uid), e.currency, sum(side.sign), sum(side.sign * coalesce(e.value, 0))
    FROM unnest(changes) AS ch
    CROSS JOIN LATERAL (VALUES (ch.old_at[3], -1), (ch.new_at[3], 1)) AS side(at, sign)
    JOIN events e ON e.space_id = ch.space_id AND e.uid = ch.uid AND e.event = 'deposit'
    WHERE ch.old_at[3] IS DISTINCT FROM ch.new_at[3] AND side.at IS NOT NULL AND NOT xt_is_test(to_jsonb(e))
    GROUP BY 1, 2, 3, 4, 5, 6;
END $fn$;
ALTER FUNCTION report_journey_changes(journey_change[]) SET plan_cache_mode = force_generic_plan;

CREATE FUNCTION report_journeys_inserted() RETURNS trigger LANGUAGE plpgsql AS $fn$
BEGIN
    PERFORM report_journey_changes(ARRAY(
        SELECT ROW(n.space_id, n.uid, NULL, n.clicked_at, ARRAY[NULL, NULL, NULL, NULL]::timestamptz[],
                   ARRAY[n.contact_at, n.subscribed_at, n.registration_at, n.deposit_at])::journey_change
        FROM new_journeys n
        WHERE n.contact_at IS NOT NULL OR n.subscribed_at IS NOT NULL OR n.registration_at IS NOT NULL
           OR n.deposit_at IS NOT NULL));
    RETURN NULL;
END $fn$;

CREATE FUNCTION report_journeys_updated() RETURNS trigger LANGUAGE plpgsql AS $fn$
BEGIN
    PERFORM report_journey_changes(ARRAY(
        SELECT ROW(n.space_id, n.uid, o.clicked_at, n.clicked_at,
                   ARRAY[o.contact_at, o.subscribed_at, o.registration_at, o.deposit_at],
                   ARRAY[n.contact_at, n.subscribed_at, n.registration_at, n.deposit_at])::journey_change
        FROM new_journeys n JOIN old_journeys o ON o.space_id = n.space_id AND o.uid = n.uid
        WHERE o.clicked_at IS DISTINCT FROM n.clicked_at OR o.contact_at IS DISTINCT FROM n.contact_at
           OR o.subscribed_at IS DISTINCT FROM n.subscribed_at
           OR o.registration_at IS DISTINCT FROM n.registration_at OR o.deposit_at IS DISTINCT FROM n.deposit_at));
    RETURN NULL;
END $fn$;

CREATE TRIGGER journeys_report_insert AFTER INSERT ON journeys
    REFERENCING NEW TABLE AS new_journeys
    FOR EACH STATEMENT EXECUTE FUNCTION report_journeys_inserted();
CREATE TRIGGER journeys_report_update AFTER UPDATE ON journeys
    REFERENCING OLD TABLE AS old_journeys NEW TABLE AS new_journeys
    FOR EACH STATEMENT EXECUTE FUNCTION report_journeys_updated();

-- Deposit events: counted where they occurred, under their click's dimensions, with revenue per
-- currency, and in their click and registration cohorts. `sign` -1 takes an old placement back.
CREATE TYPE report_event_change AS (
    space_id bigint,
    uid      text,
    value    numeric,
    currency text,
    slot     timestamptz,
    sign     integer
);

CREATE FUNCTION report_event_changes(changes report_event_change[]) RETURNS void LANGUAGE plpgsql AS $fn$
BEGIN
    WITH placed AS (
        SELECT ch.*, coalesce(c.link_slug, '') AS link, coalesce(c.campaign_id, '') AS campaign,
               coalesce(c.adset_id, '') AS adset, coalesce(c.ad_id, '') AS ad, coalesce(c.country, '') AS country,
               c.created_at AS clicked_at, j.registration_at
        FROM unnest(changes) AS ch
        LEFT JOIN clicks c ON c.space_id = ch.space_id AND c.uid = ch.uid
        LEFT JOIN journeys j ON j.space_id = ch.space_id AND j.uid = ch.uid
    ), counted AS (
        INSERT INTO report_deltas (space_id, slot, kind, link_slug, campaign_id, adset_id, ad_id, country, currency, n, amount)
        SELECT p.space_id, p.slot, k.kind, p.link, p.campaign, p.adset, p.ad, p.country, k.currency, sum(p.sign),
               sum(p.sign * k.amount)
        FROM placed p
        CROSS JOIN LATERAL (
            SELECT 'event:deposit' AS kind, '' AS currency, 0::numeric AS amount
            UNION ALL
            SELECT 'revenue', p.currency, p.value WHERE p.value IS NOT NULL
        ) k
        GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9
        RETURNING 1
    )
    INSERT INTO cohort_deltas (space_id, basis, cohort_slot, slot, link_slug, currency, n, amount)
    SELECT p.space_id, b.basis, xt_slot(b.at), p.slot, p.link, p.currency, sum(p.sign), sum(p.sign * coalesce(p.value, 0))
    FROM placed p
    CROSS JOIN LATERAL (VALUES ('click', p.clicked_at), ('registration', p.registration_at)) AS b(basis, at)
    WHERE b.at IS NOT NULL
    GROUP BY 1, 2, 3, 4, 5, 6;
END $fn$;
ALTER FUNCTION report_event_changes(report_event_change[]) SET plan_cache_mode = force_generic_plan;

CREATE FUNCTION report_events_inserted() RETURNS trigger LANGUAGE plpgsql AS $fn$
BEGIN
    PERFORM report_event_changes(ARRAY(
        SELECT ROW(n.space_id, n.uid, n.value, n.currency, xt_slot(to_timestamp(n.occurred_at_ms / 1000.0)), 1)::report_event_change
        FROM new_events n
        WHERE n.event = 'deposit' AND NOT xt_is_test(to_jsonb(n))));
    RETURN NULL;
END $fn$;

CREATE FUNCTION report_events_updated() RETURNS trigger LANGUAGE plpgsql AS $fn$
BEGIN
    PERFORM report_event_changes(ARRAY(
        SELECT ROW(n.space_id, side.uid, n.value, n.currency, xt_slot(to_timestamp(n.occurred_at_ms / 1000.0)),
                   side.sign)::report_event_change
        FROM new_events n JOIN old_events o ON o.space_id = n.space_id AND o.id = n.id
        CROSS JOIN LATERAL (VALUES (o.uid, -1), (n.uid, 1)) AS side(uid, sign)
        WHERE n.event = 'deposit' AND o.uid IS DISTINCT FROM n.uid AND NOT xt_is_test(to_jsonb(n))));
    RETURN NULL;
END $fn$;

CREATE TRIGGER events_report_insert AFTER INSERT ON events
    REFERENCING NEW TABLE AS new_events
    FOR EACH STATEMENT EXECUTE FUNCTION report_events_inserted();
CREATE TRIGGER events_report_update AFTER UPDATE ON events
    REFERENCING OLD TABLE AS old_events NEW TABLE AS new_events
    FOR EACH STATEMENT EXECUTE FUNCTION report_events_updated();

-- Moves a space's report and cohort deltas into the folded tables; returns how many it folded.
-- It takes the deck's per-space fold lock, so a time zone change (which holds that lock while it
-- rebuilds) never races it.
CREATE FUNCTION fold_reports(p_space_id bigint) RETURNS bigint LANGUAGE sql AS $$
    SELECT pg_advisory_xact_lock(hashtextextended('xt:fold:' || p_space_id, 0));
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
    )
    SELECT (SELECT count(*) FROM gone) + (SELECT count(*) FROM cohort_gone);
$$;

-- Recomputes a space's report and cohort rollups from clicks, journeys and events.
CREATE FUNCTION report_rebuild(p_space_id bigint) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM report_deltas WHERE space_id = p_space_id;
    DELETE FROM cohort_deltas WHERE space_id = p_space_id;
    DELETE FROM report_days WHERE space_id = p_space_id;
    DELETE FROM report_geo_days WHERE space_id = p_space_id;
    DELETE FROM report_hours WHERE space_id = p_space_id;
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
