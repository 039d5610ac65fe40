-- Rollup deltas written once per statement instead of once per row.
--
-- The row triggers of 0005 ran plpgsql and a lookup per inserted or updated row; batched writes
-- (group-committed ingest and landings) paid that for every row. These statement triggers read
-- the statement's transition tables and write the same deltas set-based, grouped, in one
-- INSERT per trigger, so their cost is per batch rather than per row. The deltas they produce
-- are the same as before, so rollup_deltas, the folded rollups and fold_rollups are unchanged.

DROP TRIGGER clicks_rollup ON clicks;
DROP TRIGGER journeys_rollup_insert ON journeys;
DROP TRIGGER journeys_rollup_update ON journeys;
DROP TRIGGER events_rollup ON events;
DROP FUNCTION rollup_click_trigger();
DROP FUNCTION rollup_journey_trigger();
DROP FUNCTION rollup_event_trigger();

CREATE FUNCTION xt_slot(at timestamptz) RETURNS timestamptz
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$ SELECT date_bin('15 minutes', at, TIMESTAMPTZ '2000-01-01Z') $$;

-- New clicks count as clicks; events that arrived before their click move from "no link" to
-- the click's link.
CREATE FUNCTION rollup_clicks_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
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
        FROM events e WHERE e.space_id = c.space_id AND e.uid = c.uid
        GROUP BY 1, 2
        UNION ALL
        SELECT xt_slot(to_timestamp(e.occurred_at_ms / 1000.0)), 'revenue', e.currency, count(*), sum(e.value)
        FROM events e WHERE e.space_id = c.space_id AND e.uid = c.uid
          AND e.event = 'deposit' AND e.value IS NOT NULL
        GROUP BY 1, 3
    ) m
    CROSS JOIN LATERAL (VALUES (-1, ''), (1, c.link_slug)) AS side(sign, link)
    WHERE coalesce(c.link_slug, '') <> ''
    GROUP BY 1, 2, 3, 4, 5;
    RETURN NULL;
END $$;

CREATE TRIGGER clicks_rollup AFTER INSERT ON clicks
    REFERENCING NEW TABLE AS new_clicks
    FOR EACH STATEMENT EXECUTE FUNCTION rollup_clicks_inserted();

-- Stage changes of journeys: the old bucket loses one, the new bucket gains one; when the click
-- arrives, every stage already reached moves from "no link" to the click's link. The two
-- statement triggers (insert: no "before"; update: before and after) hand their changed rows to
-- one function, whose static SQL plpgsql plans once per session.
CREATE TYPE journey_change AS (
    space_id    bigint,
    uid         text,
    old_clicked timestamptz,
    new_clicked timestamptz,
    old_at      timestamptz[],  -- contact, subscribed, registration, deposit
    new_at      timestamptz[]
);

CREATE FUNCTION rollup_journey_changes(changes journey_change[]) RETURNS void LANGUAGE plpgsql AS $fn$
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
    )
    INSERT INTO rollup_deltas (space_id, slot, kind, link_slug, country, n)
    SELECT space_id, xt_slot(at), 'stage:' || stage, link, CASE WHEN stage = 'deposit' THEN country ELSE '' END,
           sum(n)
    FROM (
        SELECT space_id, stage, old_at AS at, old_link AS link, old_country AS country, -1 AS n
        FROM changed WHERE old_at IS NOT NULL
        UNION ALL
        SELECT space_id, stage, new_at, new_link, new_country, 1
        FROM changed WHERE new_at IS NOT NULL
    ) d
    GROUP BY 1, 2, 3, 4, 5;
END $fn$;

CREATE FUNCTION rollup_journeys_inserted() RETURNS trigger LANGUAGE plpgsql AS $fn$
BEGIN
    PERFORM rollup_journey_changes(ARRAY(
        SELECT ROW(n.space_id, n.uid, NULL, n.clicked_at, ARRAY[NULL, NULL, NULL, NULL]::timestamptz[],
                   ARRAY[n.contact_at, n.subscribed_at, n.registration_at, n.deposit_at])::journey_change
        FROM new_journeys n
        WHERE n.contact_at IS NOT NULL OR n.subscribed_at IS NOT NULL OR n.registration_at IS NOT NULL
           OR n.deposit_at IS NOT NULL));
    RETURN NULL;
END $fn$;

CREATE FUNCTION rollup_journeys_updated() RETURNS trigger LANGUAGE plpgsql AS $fn$
BEGIN
    PERFORM rollup_journey_changes(ARRAY(
        SELECT ROW(n.space_id, n.uid, o.clicked_at, n.clicked_at,
                   ARRAY[o.contact_at, o.subscribed_at, o.registration_at, o.deposit_at],
                   ARRAY[n.contact_at, n.subscribed_at, n.registration_at, n.deposit_at])::journey_change
        FROM new_journeys n JOIN old_journeys o ON o.space_id = n.space_id AND o.uid = n.uid
        WHERE o.clicked_at IS DISTINCT FROM n.clicked_at OR o.contact_at IS DISTINCT FROM n.contact_at
           OR o.subscribed_at IS DISTINCT FROM n.subscribed_at
           OR o.registration_at IS DISTINCT FROM n.registration_at OR o.deposit_at IS DISTINCT FROM n.deposit_at));
    RETURN NULL;
END $fn$;

CREATE TRIGGER journeys_rollup_insert AFTER INSERT ON journeys
    REFERENCING NEW TABLE AS new_journeys
    FOR EACH STATEMENT EXECUTE FUNCTION rollup_journeys_inserted();
CREATE TRIGGER journeys_rollup_update AFTER UPDATE ON journeys
    REFERENCING OLD TABLE AS old_journeys NEW TABLE AS new_journeys
    FOR EACH STATEMENT EXECUTE FUNCTION rollup_journeys_updated();

-- Events count where they occurred, under their click's link; revenue per currency. A
-- back-filled event (uid set later) moves from its old link to its new one.
CREATE TYPE event_count_change AS (
    space_id bigint,
    event    text,
    value    numeric,
    currency text,
    slot     timestamptz,
    link     text,
    sign     integer
);

CREATE FUNCTION rollup_event_changes(changes event_count_change[]) RETURNS void LANGUAGE plpgsql AS $fn$
BEGIN
    INSERT INTO rollup_deltas (space_id, slot, kind, link_slug, currency, n, amount)
    SELECT ch.space_id, ch.slot, k.kind, ch.link, k.currency, sum(ch.sign), sum(ch.sign * k.amount)
    FROM unnest(changes) AS ch
    CROSS JOIN LATERAL (
        SELECT 'event:' || ch.event AS kind, '' AS currency, 0::numeric AS amount
        UNION ALL
        SELECT 'revenue', ch.currency, ch.value WHERE ch.event = 'deposit' AND ch.value IS NOT NULL
    ) k
    GROUP BY 1, 2, 3, 4, 5;
END $fn$;

CREATE FUNCTION click_link(p_space_id bigint, p_uid text) RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT coalesce((SELECT link_slug FROM clicks WHERE space_id = p_space_id AND uid = p_uid), '')
$$;

CREATE FUNCTION rollup_events_inserted() RETURNS trigger LANGUAGE plpgsql AS $fn$
BEGIN
    PERFORM rollup_event_changes(ARRAY(
        SELECT ROW(n.space_id, n.event, n.value, n.currency, xt_slot(to_timestamp(n.occurred_at_ms / 1000.0)),
                   CASE WHEN n.uid IS NULL THEN '' ELSE click_link(n.space_id, n.uid) END, 1)::event_count_change
        FROM new_events n));
    RETURN NULL;
END $fn$;

CREATE FUNCTION rollup_events_updated() RETURNS trigger LANGUAGE plpgsql AS $fn$
BEGIN
    PERFORM rollup_event_changes(ARRAY(
        SELECT ROW(m.space_id, m.event, m.value, m.currency, m.slot, side.link, side.sign)::event_count_change
        FROM (
            SELECT n.space_id, n.event, n.value, n.currency, xt_slot(to_timestamp(n.occurred_at_ms / 1000.0)) AS slot,
                   CASE WHEN o.uid IS NULL THEN '' ELSE click_link(o.space_id, o.uid) END AS old_link,
                   CASE WHEN n.uid IS NULL THEN '' ELSE click_link(n.space_id, n.uid) END AS new_link
            FROM new_events n JOIN old_events o ON o.space_id = n.space_id AND o.id = n.id
            WHERE o.uid IS DISTINCT FROM n.uid
        ) m
        CROSS JOIN LATERAL (VALUES (m.old_link, -1), (m.new_link, 1)) AS side(link, sign)
        WHERE m.old_link <> m.new_link));
    RETURN NULL;
END $fn$;

CREATE TRIGGER events_rollup_insert AFTER INSERT ON events
    REFERENCING NEW TABLE AS new_events
    FOR EACH STATEMENT EXECUTE FUNCTION rollup_events_inserted();
CREATE TRIGGER events_rollup_update AFTER UPDATE ON events
    REFERENCING OLD TABLE AS old_events NEW TABLE AS new_events
    FOR EACH STATEMENT EXECUTE FUNCTION rollup_events_updated();
