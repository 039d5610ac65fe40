-- Rollup triggers skip their work when a statement changed nothing they count.
--
-- The statement triggers on journeys and events (0006, 0013, 0015) collect the statement's changes
-- into an array and hand it to rollup_/report_*_changes(), which run two to three INSERT … SELECT
-- over it. Most statements of the hot paths bring them nothing: a landing's click opens a
-- journey with no stage yet (both journeys insert triggers), its contact's upsert inserts no
-- journey (both insert triggers again), and a non-deposit event is nothing to the reports
-- (report_events_*). Those calls still planned and ran every INSERT on an empty array; measured
-- on the landing write, they were a tenth of PostgreSQL's CPU per landing. The wrappers below are
-- the same queries, calling the change function only when there is a change: the deltas are
-- exactly the same (every query of the change functions reads only the array).

CREATE OR REPLACE FUNCTION rollup_journeys_inserted() RETURNS trigger LANGUAGE plpgsql AS $fn$
DECLARE
    changes journey_change[];
BEGIN
    changes := ARRAY(
        SELECT ROW(n.space_id, n.uid, NULL, n.clicked_at, ARRAY[NULL, NULL, NULL, NULL]::timestamptz[],
                   ARRAY[n.contact_at, n.subscribed_at, n.registration_at, n.deposit_at])::journey_change
        FROM new_journeys n
        WHERE n.contact_at IS NOT NULL OR n.subscribed_at IS NOT NULL OR n.registration_at IS NOT NULL
           OR n.deposit_at IS NOT NULL);
    IF cardinality(changes) > 0 THEN
        PERFORM rollup_journey_changes(changes);
    END IF;
    RETURN NULL;
END $fn$;

CREATE OR REPLACE FUNCTION rollup_journeys_updated() RETURNS trigger LANGUAGE plpgsql AS $fn$
DECLARE
    changes journey_change[];
BEGIN
    changes := ARRAY(
        SELECT ROW(n.space_id, n.uid, o.clicked_at, n.clicked_at,
                   ARRAY[o.contact_at, o.subscribed_at, o.registration_at, o.deposit_at],
                   ARRAY[n.contact_at, n.subscribed_at, n.registration_at, n.deposit_at])::journey_change
        FROM new_journeys n JOIN old_journeys o ON o.space_id = n.space_id AND o.uid = n.uid
        WHERE o.clicked_at IS DISTINCT FROM n.clicked_at OR o.contact_at IS DISTINCT FROM n.contact_at
           OR o.subscribed_at IS DISTINCT FROM n.subscribed_at
           OR o.registration_at IS DISTINCT FROM n.registration_at OR o.deposit_at IS DISTINCT FROM n.deposit_at);
    IF cardinality(changes) > 0 THEN
        PERFORM rollup_journey_changes(changes);
    END IF;
    RETURN NULL;
END $fn$;

CREATE OR REPLACE FUNCTION report_journeys_inserted() RETURNS trigger LANGUAGE plpgsql AS $fn$
DECLARE
    changes journey_change[];
BEGIN
    changes := ARRAY(
        SELECT ROW(n.space_id, n.uid, NULL, n.clicked_at, ARRAY[NULL, NULL, NULL, NULL]::timestamptz[],
                   ARRAY[n.contact_at, n.subscribed_at, n.registration_at, n.deposit_at])::journey_change
        FROM new_journeys n
        WHERE n.contact_at IS NOT NULL OR n.subscribed_at IS NOT NULL OR n.registration_at IS NOT NULL
           OR n.deposit_at IS NOT NULL);
    IF cardinality(changes) > 0 THEN
        PERFORM report_journey_changes(changes);
    END IF;
    RETURN NULL;
END $fn$;

CREATE OR REPLACE FUNCTION report_journeys_updated() RETURNS trigger LANGUAGE plpgsql AS $fn$
DECLARE
    changes journey_change[];
BEGIN
    changes := ARRAY(
        SELECT ROW(n.space_id, n.uid, o.clicked_at, n.clicked_at,
                   ARRAY[o.contact_at, o.subscribed_at, o.registration_at, o.deposit_at],
                   ARRAY[n.contact_at, n.subscribed_at, n.registration_at, n.deposit_at])::journey_change
        FROM new_journeys n JOIN old_journeys o ON o.space_id = n.space_id AND o.uid = n.uid
        WHERE o.clicked_at IS DISTINCT FROM n.clicked_at OR o.contact_at IS DISTINCT FROM n.contact_at
           OR o.subscribed_at IS DISTINCT FROM n.subscribed_at
           OR o.registration_at IS DISTINCT FROM n.registration_at OR o.deposit_at IS DISTINCT FROM n.deposit_at);
    IF cardinality(changes) > 0 THEN
        PERFORM report_journey_changes(changes);
    END IF;
    RETURN NULL;
END $fn$;

CREATE OR REPLACE FUNCTION rollup_events_inserted() RETURNS trigger LANGUAGE plpgsql AS $fn$
DECLARE
    changes event_count_change[];
BEGIN
    changes := ARRAY(
        SELECT ROW(n.space_id, n.event, n.value, n.currency, xt_slot(to_timestamp(n.occurred_at_ms / 1000.0)),
                   CASE WHEN n.uid IS NULL THEN '' ELSE click_link(n.space_id, n.uid) END, 1)::event_count_change
        FROM new_events n WHERE NOT n.test);
    IF cardinality(changes) > 0 THEN
        PERFORM rollup_event_changes(changes);
    END IF;
    RETURN NULL;
END $fn$;

CREATE OR REPLACE FUNCTION rollup_events_updated() RETURNS trigger LANGUAGE plpgsql AS $fn$
DECLARE
    changes event_count_change[];
BEGIN
    changes := ARRAY(
        SELECT ROW(m.space_id, m.event, m.value, m.currency, m.slot, side.link, side.sign)::event_count_change
        FROM (
            SELECT n.space_id, n.event, n.value, n.currency, xt_slot(to_timestamp(n.occurred_at_ms / 1000.0)) AS slot,
                   CASE WHEN o.uid IS NULL THEN '' ELSE click_link(o.space_id, o.uid) END AS old_link,
                   CASE WHEN n.uid IS NULL THEN '' ELSE click_link(n.space_id, n.uid) END AS new_link
            FROM new_events n JOIN old_events o ON o.space_id = n.space_id AND o.id = n.id
            WHERE o.uid IS DISTINCT FROM n.uid AND NOT n.test
        ) m
        CROSS JOIN LATERAL (VALUES (m.old_link, -1), (m.new_link, 1)) AS side(link, sign)
        WHERE m.old_link <> m.new_link);
    IF cardinality(changes) > 0 THEN
        PERFORM rollup_event_changes(changes);
    END IF;
    RETURN NULL;
END $fn$;

CREATE OR REPLACE FUNCTION report_events_inserted() RETURNS trigger LANGUAGE plpgsql AS $fn$
DECLARE
    changes report_event_change[];
BEGIN
    changes := ARRAY(
        SELECT ROW(n.space_id, n.uid, n.value, n.currency, xt_slot(to_timestamp(n.occurred_at_ms / 1000.0)), 1)::report_event_change
        FROM new_events n
        WHERE n.event = 'deposit' AND NOT xt_is_test(to_jsonb(n)));
    IF cardinality(changes) > 0 THEN
        PERFORM report_event_changes(changes);
    END IF;
    RETURN NULL;
END $fn$;

CREATE OR REPLACE FUNCTION report_events_updated() RETURNS trigger LANGUAGE plpgsql AS $fn$
DECLARE
    changes report_event_change[];
BEGIN
    changes := ARRAY(
        SELECT ROW(n.space_id, side.uid, n.value, n.currency, xt_slot(to_timestamp(n.occurred_at_ms / 1000.0)),
                   side.sign)::report_event_change
        FROM new_events n JOIN old_events o ON o.space_id = n.space_id AND o.id = n.id
        CROSS JOIN LATERAL (VALUES (o.uid, -1), (n.uid, 1)) AS side(uid, sign)
        WHERE n.event = 'deposit' AND o.uid IS DISTINCT FROM n.uid AND NOT xt_is_test(to_jsonb(n)));
    IF cardinality(changes) > 0 THEN
        PERFORM report_event_changes(changes);
    END IF;
    RETURN NULL;
END $fn$;
