-- The deck as buyers and operators trust it: test events, deleted destinations, forms that act
-- once, and a funnel that never exceeds 100 %.
--
-- 1. Test events (`"test": true` on POST /events, `test=1` on GET /e) are recorded and shown, but
--    never stitched onto journeys and never counted in the rollups; they are delivered only to
--    destinations whose accept_test switch is on.
-- 2. A deleted destination keeps its row (its deliveries stay readable in the matrix and the
--    journeys); it gets no new deliveries and its open ones end as dead.
-- 3. form_submissions: the once-per-form token of every setup form (a reload or a double click
--    answers with the first submission's result), and the secret a redirect reveals once.
-- 4. Funnel kinds: 'reach:<stage>' counts a journey at every stage up to the furthest it reached,
--    'skip:<stage>' the stages it passed without their event; both in the slot the journey
--    started (its earliest stage), so a range's funnel is a cohort: monotone, never above 100 %.

ALTER TABLE events ADD COLUMN test boolean NOT NULL DEFAULT false;
ALTER TABLE deliveries ADD COLUMN test boolean NOT NULL DEFAULT false;
ALTER TABLE destinations ADD COLUMN accept_test boolean NOT NULL DEFAULT false;
ALTER TABLE destinations ADD COLUMN deleted_at timestamptz;

CREATE TABLE form_submissions (
    user_id     bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    token       text NOT NULL CHECK (length(token) BETWEEN 16 AND 64),
    space_id    bigint REFERENCES spaces (id) ON DELETE CASCADE,
    created_at  timestamptz NOT NULL,
    -- Where the first submission's answer redirected; NULL while it runs (or when it rendered).
    result_url  text,
    -- A secret the result page shows once (AES-256-GCM, app/lib/secretbox), cleared when shown.
    secret      bytea,
    PRIMARY KEY (user_id, token)
);
CREATE INDEX form_submissions_created_idx ON form_submissions (created_at);

-- The journey search finds a uid whatever its letter case.
CREATE INDEX journeys_space_lower_uid_idx ON journeys (space_id, lower(uid));

-- The funnel kinds of one state of a journey (its four stage times).
CREATE FUNCTION funnel_kinds(at timestamptz[]) RETURNS SETOF text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    WITH s(i, stage) AS (VALUES (1, 'contact'), (2, 'subscribed'), (3, 'registration'), (4, 'deposit')),
    f AS (SELECT max(i) AS furthest FROM s WHERE at[i] IS NOT NULL)
    SELECT 'reach:' || s.stage FROM s, f WHERE s.i <= f.furthest
    UNION ALL
    SELECT 'skip:' || s.stage FROM s, f WHERE s.i < f.furthest AND at[s.i] IS NULL
$$;

CREATE OR REPLACE FUNCTION rollup_journey_changes(changes journey_change[]) RETURNS void LANGUAGE plpgsql AS $fn$
BEGIN
    WITH placed AS (
        SELECT ch.*, coalesce(c.link_slug, '') AS link, coalesce(c.country, '') AS country
        FROM unnest(changes) AS ch
        LEFT JOIN clicks c ON ch.new_clicked IS NOT NULL AND c.space_id = ch.space_id AND c.uid = ch.uid
    ), moves AS (
        SELECT pl.space_id, s.stage, pl.old_at[s.i] AS old_at, pl.new_at[s.i] AS new_at,
               CASE WHEN pl.old_clicked IS NOT NULL THEN pl.link ELSE '' END AS old_link,
               CASE WHEN pl.old_clicked IS NOT NULL THEN pl.country ELSE '' END AS old_country,
               pl.link AS new_link, pl.country AS new_country
        FROM placed pl
        CROSS JOIN (VALUES (1, 'contact'), (2, 'subscribed'), (3, 'registration'), (4, 'deposit')) AS s(i, stage)
    ), changed AS (
        SELECT * FROM moves
        WHERE NOT (old_at IS NOT DISTINCT FROM new_at AND old_link = new_link AND old_country = new_country)
    ), cohort AS (
        SELECT pl.space_id, xt_slot(least(pl.old_at[1], pl.old_at[2], pl.old_at[3], pl.old_at[4])) AS at,
               k.kind, CASE WHEN pl.old_clicked IS NOT NULL THEN pl.link ELSE '' END AS link, -1 AS n
        FROM placed pl CROSS JOIN LATERAL funnel_kinds(pl.old_at) AS k(kind)
        UNION ALL
        SELECT pl.space_id, xt_slot(least(pl.new_at[1], pl.new_at[2], pl.new_at[3], pl.new_at[4])),
               k.kind, pl.link, 1
        FROM placed pl CROSS JOIN LATERAL funnel_kinds(pl.new_at) AS k(kind)
    )
    INSERT INTO rollup_deltas (space_id, slot, kind, link_slug, country, n)
    SELECT space_id, at, kind, link, country, sum(n)
    FROM (
        SELECT space_id, xt_slot(old_at) AS at, 'stage:' || stage AS kind, old_link AS link,
               CASE WHEN stage = 'deposit' THEN old_country ELSE '' END AS country, -1 AS n
        FROM changed WHERE old_at IS NOT NULL
        UNION ALL
        SELECT space_id, xt_slot(new_at), 'stage:' || stage, new_link,
               CASE WHEN stage = 'deposit' THEN new_country ELSE '' END, 1
        FROM changed WHERE new_at IS NOT NULL
        UNION ALL
        SELECT space_id, at, kind, link, '', n FROM cohort
    ) d
    GROUP BY 1, 2, 3, 4, 5
    HAVING sum(n) <> 0;
END $fn$;
ALTER FUNCTION rollup_journey_changes(journey_change[]) SET plan_cache_mode = force_generic_plan;

-- Test events count nowhere: not as events, not as revenue, not when their click arrives.
CREATE OR REPLACE FUNCTION rollup_events_inserted() RETURNS trigger LANGUAGE plpgsql AS $fn$
BEGIN
    PERFORM rollup_event_changes(ARRAY(
        SELECT ROW(n.space_id, n.event, n.value, n.currency, xt_slot(to_timestamp(n.occurred_at_ms / 1000.0)),
                   CASE WHEN n.uid IS NULL THEN '' ELSE click_link(n.space_id, n.uid) END, 1)::event_count_change
        FROM new_events n WHERE NOT n.test));
    RETURN NULL;
END $fn$;

CREATE OR REPLACE FUNCTION rollup_events_updated() RETURNS trigger LANGUAGE plpgsql AS $fn$
BEGIN
    PERFORM rollup_event_changes(ARRAY(
        SELECT ROW(m.space_id, m.event, m.value, m.currency, m.slot, side.link, side.sign)::event_count_change
        FROM (
            SELECT n.space_id, n.event, n.value, n.currency, xt_slot(to_timestamp(n.occurred_at_ms / 1000.0)) AS slot,
                   CASE WHEN o.uid IS NULL THEN '' ELSE click_link(o.space_id, o.uid) END AS old_link,
                   CASE WHEN n.uid IS NULL THEN '' ELSE click_link(n.space_id, n.uid) END AS new_link
            FROM new_events n JOIN old_events o ON o.space_id = n.space_id AND o.id = n.id
            WHERE o.uid IS DISTINCT FROM n.uid AND NOT n.test
        ) m
        CROSS JOIN LATERAL (VALUES (m.old_link, -1), (m.new_link, 1)) AS side(link, sign)
        WHERE m.old_link <> m.new_link));
    RETURN NULL;
END $fn$;

CREATE OR REPLACE FUNCTION rollup_clicks_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO rollup_deltas (space_id, slot, kind, link_slug, country, n)
    SELECT space_id, xt_slot(created_at), 'click', coalesce(link_slug, ''), coalesce(country, ''), count(*)
    FROM new_clicks
    GROUP BY 1, 2, 3, 4, 5;

    INSERT INTO rollup_deltas (space_id, slot, kind, link_slug, currency, n, amount)
    SELECT c.space_id, m.h, m.k, side.link, m.c, sum(side.sign * m.cnt), sum(side.sign * m.amt)
    FROM new_clicks c
    CROSS JOIN LATERAL (
        SELECT xt_slot(to_timestamp(e.occurred_at_ms / 1000.0)) AS h, 'event:' || e.event AS k, '' AS c,
               count(*) AS cnt, 0::numeric AS amt
        FROM events e WHERE e.space_id = c.space_id AND e.uid = c.uid AND NOT e.test
        GROUP BY 1, 2
        UNION ALL
        SELECT xt_slot(to_timestamp(e.occurred_at_ms / 1000.0)), 'revenue', e.currency, count(*), sum(e.value)
        FROM events e WHERE e.space_id = c.space_id AND e.uid = c.uid AND NOT e.test
          AND e.event = 'deposit' AND e.value IS NOT NULL
        GROUP BY 1, 3
    ) m
    CROSS JOIN LATERAL (VALUES (-1, ''), (1, c.link_slug)) AS side(sign, link)
    WHERE coalesce(c.link_slug, '') <> ''
    GROUP BY 1, 2, 3, 4, 5;
    RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION deck_rebuild(p_space_id bigint) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM rollup_deltas WHERE space_id = p_space_id;
    DELETE FROM rollup_quarters WHERE space_id = p_space_id;
    DELETE FROM rollup_days WHERE space_id = p_space_id;
    DELETE FROM rollup_geo_days WHERE space_id = p_space_id;
    INSERT INTO rollup_deltas (space_id, slot, kind, link_slug, country, currency, n, amount)
    SELECT p_space_id, xt_slot(created_at), 'click', coalesce(link_slug, ''), coalesce(country, ''), '',
           count(*), 0
    FROM clicks WHERE space_id = p_space_id GROUP BY 2, 4, 5;
    INSERT INTO rollup_deltas (space_id, slot, kind, link_slug, country, currency, n, amount)
    SELECT p_space_id, xt_slot(s.at), 'stage:' || s.stage, coalesce(c.link_slug, ''),
           CASE WHEN s.stage = 'deposit' THEN coalesce(c.country, '') ELSE '' END, '', count(*), 0
    FROM journeys j
    CROSS JOIN LATERAL (VALUES ('contact', j.contact_at), ('subscribed', j.subscribed_at),
                               ('registration', j.registration_at), ('deposit', j.deposit_at)) AS s(stage, at)
    LEFT JOIN clicks c ON c.space_id = j.space_id AND c.uid = j.uid AND j.clicked_at IS NOT NULL
    WHERE j.space_id = p_space_id AND s.at IS NOT NULL
    GROUP BY 2, 3, 4, 5;
    INSERT INTO rollup_deltas (space_id, slot, kind, link_slug, country, currency, n, amount)
    SELECT p_space_id, xt_slot(least(j.contact_at, j.subscribed_at, j.registration_at, j.deposit_at)), k.kind,
           coalesce(c.link_slug, ''), '', '', count(*), 0
    FROM journeys j
    CROSS JOIN LATERAL funnel_kinds(ARRAY[j.contact_at, j.subscribed_at, j.registration_at, j.deposit_at]) AS k(kind)
    LEFT JOIN clicks c ON c.space_id = j.space_id AND c.uid = j.uid AND j.clicked_at IS NOT NULL
    WHERE j.space_id = p_space_id
    GROUP BY 2, 3, 4;
    INSERT INTO rollup_deltas (space_id, slot, kind, link_slug, country, currency, n, amount)
    SELECT p_space_id, xt_slot(to_timestamp(e.occurred_at_ms / 1000.0)), k.kind,
           coalesce(c.link_slug, ''), '', k.currency, count(*), coalesce(sum(k.amount), 0)
    FROM events e
    LEFT JOIN clicks c ON c.space_id = e.space_id AND c.uid = e.uid
    CROSS JOIN LATERAL (
        SELECT 'event:' || e.event AS kind, '' AS currency, 0::numeric AS amount
        UNION ALL
        SELECT 'revenue', e.currency, e.value WHERE e.event = 'deposit' AND e.value IS NOT NULL
    ) k
    WHERE e.space_id = p_space_id AND NOT e.test
    GROUP BY 2, 3, 4, 6;
    PERFORM fold_rollups(p_space_id);
END $$;

-- Existing spaces get the funnel kinds from their history.
SELECT deck_rebuild(id) FROM spaces;
