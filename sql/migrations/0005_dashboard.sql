-- Dashboard: login sessions, failed-login throttle, and the deck's rollups.
--
-- Rollups keep the deck's cost proportional to what it shows, not to history. Triggers on
-- clicks, journeys and events append signed deltas to rollup_deltas (insert-only, so concurrent
-- ingests never wait on a shared counter row); fold_rollups(space_id) moves a space's deltas
-- into rollup_quarters (15-minute slots), rollup_days and rollup_geo_days (days in the space's
-- time zone).
-- The deck folds before it reads, and deck_rebuild(space_id) recomputes a space from the base tables.
--
-- Kinds: 'click' (clicks, by link and country), 'stage:<stage>' (journeys whose earliest
-- <stage> falls in the bucket; 'stage:deposit' also by country), 'event:<event>' (events
-- received, by occurred time), 'revenue' (deposit events with a value: n and amount per currency).
-- A journey, and its events, belong to the link and country of its click ('' before the click).

CREATE TABLE user_sessions (
    token_hash   bytea PRIMARY KEY,
    user_id      bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    csrf_token   text NOT NULL,
    created_at   timestamptz NOT NULL,
    expires_at   timestamptz NOT NULL
);
CREATE INDEX user_sessions_user_idx ON user_sessions (user_id);
CREATE INDEX user_sessions_expires_idx ON user_sessions (expires_at);

-- One row per throttle key ('email:<address>' or 'ip:<address>'): failures in the current window.
CREATE TABLE login_failures (
    key          text PRIMARY KEY,
    failures     integer NOT NULL,
    window_start timestamptz NOT NULL
);
CREATE INDEX login_failures_window_idx ON login_failures (window_start);

CREATE TABLE rollup_deltas (
    space_id  bigint NOT NULL REFERENCES spaces (id) ON DELETE CASCADE,
    slot      timestamptz NOT NULL,
    kind      text NOT NULL,
    link_slug text NOT NULL DEFAULT '',
    country   text NOT NULL DEFAULT '',
    currency  text NOT NULL DEFAULT '',
    n         bigint NOT NULL,
    amount    numeric NOT NULL DEFAULT 0
);
CREATE INDEX rollup_deltas_space_idx ON rollup_deltas (space_id);

-- The folded totals. link_slug '*' rows hold the sum over every link, so an unfiltered deck
-- reads one row per day and kind; keys lead with the link so each read is one index range.
-- Quarter hours (every UTC offset in use is a multiple of 15 minutes, so slots never straddle
-- a local midnight): event counts only, for the waveform of short ranges.
CREATE TABLE rollup_quarters (
    space_id  bigint NOT NULL REFERENCES spaces (id) ON DELETE CASCADE,
    link_slug text NOT NULL,
    slot      timestamptz NOT NULL,
    kind      text NOT NULL,
    n         bigint NOT NULL,
    PRIMARY KEY (space_id, link_slug, slot, kind)
);

-- Days in the space's time zone: every kind, summed over countries; revenue per currency.
CREATE TABLE rollup_days (
    space_id  bigint NOT NULL REFERENCES spaces (id) ON DELETE CASCADE,
    link_slug text NOT NULL,
    day       date NOT NULL,
    kind      text NOT NULL,
    currency  text NOT NULL,
    n         bigint NOT NULL,
    amount    numeric NOT NULL,
    PRIMARY KEY (space_id, link_slug, day, kind, currency)
);

-- Days by country, for clicks and depositing journeys (the world map).
CREATE TABLE rollup_geo_days (
    space_id  bigint NOT NULL REFERENCES spaces (id) ON DELETE CASCADE,
    link_slug text NOT NULL,
    day       date NOT NULL,
    kind      text NOT NULL,
    country   text NOT NULL,
    n         bigint NOT NULL,
    PRIMARY KEY (space_id, link_slug, day, kind, country)
);

CREATE FUNCTION rollup_click_trigger() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO rollup_deltas (space_id, slot, kind, link_slug, country, n)
    VALUES (NEW.space_id, date_bin('15 minutes', NEW.created_at, TIMESTAMPTZ '2000-01-01Z'), 'click',
            coalesce(NEW.link_slug, ''), coalesce(NEW.country, ''), 1);
    -- Events that arrived before their click move from "no link" to the click's link.
    IF coalesce(NEW.link_slug, '') <> '' THEN
        INSERT INTO rollup_deltas (space_id, slot, kind, link_slug, currency, n, amount)
        SELECT NEW.space_id, m.h, m.k, side.link, m.c, side.sign * m.cnt, side.sign * m.amt
        FROM (
            SELECT date_bin('15 minutes', to_timestamp(e.occurred_at_ms / 1000.0), TIMESTAMPTZ '2000-01-01Z') AS h,
                   'event:' || e.event AS k, '' AS c, count(*) AS cnt, 0::numeric AS amt
            FROM events e WHERE e.space_id = NEW.space_id AND e.uid = NEW.uid
            GROUP BY 1, 2
            UNION ALL
            SELECT date_bin('15 minutes', to_timestamp(e.occurred_at_ms / 1000.0), TIMESTAMPTZ '2000-01-01Z'), 'revenue', e.currency,
                   count(*), sum(e.value)
            FROM events e WHERE e.space_id = NEW.space_id AND e.uid = NEW.uid
              AND e.event = 'deposit' AND e.value IS NOT NULL
            GROUP BY 1, 3
        ) m
        CROSS JOIN (VALUES (-1, ''), (1, NEW.link_slug)) AS side(sign, link);
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER clicks_rollup AFTER INSERT ON clicks
    FOR EACH ROW EXECUTE FUNCTION rollup_click_trigger();

-- Stage changes of a journey: the old bucket loses one, the new bucket gains one. When the
-- click arrives, every stage already reached moves from "no link" to the click's link.
CREATE FUNCTION rollup_journey_trigger() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    old_link text := '';
    old_country text := '';
    new_link text := '';
    new_country text := '';
    stage text;
    old_at timestamptz;
    new_at timestamptz;
BEGIN
    IF NEW.clicked_at IS NOT NULL THEN
        SELECT coalesce(link_slug, ''), coalesce(country, '') INTO new_link, new_country
        FROM clicks WHERE space_id = NEW.space_id AND uid = NEW.uid;
        new_link := coalesce(new_link, '');
        new_country := coalesce(new_country, '');
    END IF;
    IF TG_OP = 'UPDATE' THEN
        IF OLD.clicked_at IS NOT NULL THEN
            old_link := new_link;
            old_country := new_country;
        END IF;
    END IF;
    FOREACH stage IN ARRAY ARRAY['contact', 'subscribed', 'registration', 'deposit'] LOOP
        new_at := CASE stage WHEN 'contact' THEN NEW.contact_at WHEN 'subscribed' THEN NEW.subscribed_at
                             WHEN 'registration' THEN NEW.registration_at ELSE NEW.deposit_at END;
        IF TG_OP = 'UPDATE' THEN
            old_at := CASE stage WHEN 'contact' THEN OLD.contact_at WHEN 'subscribed' THEN OLD.subscribed_at
                                 WHEN 'registration' THEN OLD.registration_at ELSE OLD.deposit_at END;
        ELSE
            old_at := NULL;
        END IF;
        IF old_at IS NOT DISTINCT FROM new_at AND old_link = new_link AND old_country = new_country THEN
            CONTINUE;
        END IF;
        IF old_at IS NOT NULL THEN
            INSERT INTO rollup_deltas (space_id, slot, kind, link_slug, country, n)
            VALUES (NEW.space_id, date_bin('15 minutes', old_at, TIMESTAMPTZ '2000-01-01Z'), 'stage:' || stage, old_link,
                    CASE WHEN stage = 'deposit' THEN old_country ELSE '' END, -1);
        END IF;
        IF new_at IS NOT NULL THEN
            INSERT INTO rollup_deltas (space_id, slot, kind, link_slug, country, n)
            VALUES (NEW.space_id, date_bin('15 minutes', new_at, TIMESTAMPTZ '2000-01-01Z'), 'stage:' || stage, new_link,
                    CASE WHEN stage = 'deposit' THEN new_country ELSE '' END, 1);
        END IF;
    END LOOP;
    RETURN NULL;
END $$;

CREATE TRIGGER journeys_rollup_insert AFTER INSERT ON journeys
    FOR EACH ROW EXECUTE FUNCTION rollup_journey_trigger();
-- Most events repeat a stage already reached: the WHEN clause skips them without calling plpgsql.
CREATE TRIGGER journeys_rollup_update AFTER UPDATE OF clicked_at, contact_at, subscribed_at,
    registration_at, deposit_at ON journeys
    FOR EACH ROW WHEN (OLD.clicked_at IS DISTINCT FROM NEW.clicked_at
                       OR OLD.contact_at IS DISTINCT FROM NEW.contact_at
                       OR OLD.subscribed_at IS DISTINCT FROM NEW.subscribed_at
                       OR OLD.registration_at IS DISTINCT FROM NEW.registration_at
                       OR OLD.deposit_at IS DISTINCT FROM NEW.deposit_at)
    EXECUTE FUNCTION rollup_journey_trigger();

-- Events count where they occurred; a back-filled event (uid set later) moves to its link.
CREATE FUNCTION rollup_event_trigger() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    h timestamptz := date_bin('15 minutes', to_timestamp(NEW.occurred_at_ms / 1000.0), TIMESTAMPTZ '2000-01-01Z');
    new_link text := '';
    old_link text := '';
BEGIN
    IF NEW.uid IS NOT NULL THEN
        SELECT coalesce(link_slug, '') INTO new_link FROM clicks WHERE space_id = NEW.space_id AND uid = NEW.uid;
        new_link := coalesce(new_link, '');
    END IF;
    IF TG_OP = 'UPDATE' THEN
        IF OLD.uid IS NOT NULL THEN
            SELECT coalesce(link_slug, '') INTO old_link FROM clicks WHERE space_id = OLD.space_id AND uid = OLD.uid;
            old_link := coalesce(old_link, '');
        END IF;
        IF old_link = new_link THEN
            RETURN NULL;
        END IF;
        INSERT INTO rollup_deltas (space_id, slot, kind, link_slug, n) VALUES (NEW.space_id, h, 'event:' || NEW.event, old_link, -1);
        IF NEW.event = 'deposit' AND NEW.value IS NOT NULL THEN
            INSERT INTO rollup_deltas (space_id, slot, kind, link_slug, currency, n, amount)
            VALUES (NEW.space_id, h, 'revenue', old_link, NEW.currency, -1, -NEW.value);
        END IF;
    END IF;
    INSERT INTO rollup_deltas (space_id, slot, kind, link_slug, n) VALUES (NEW.space_id, h, 'event:' || NEW.event, new_link, 1);
    IF NEW.event = 'deposit' AND NEW.value IS NOT NULL THEN
        INSERT INTO rollup_deltas (space_id, slot, kind, link_slug, currency, n, amount)
        VALUES (NEW.space_id, h, 'revenue', new_link, NEW.currency, 1, NEW.value);
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER events_rollup AFTER INSERT OR UPDATE OF uid ON events
    FOR EACH ROW EXECUTE FUNCTION rollup_event_trigger();

-- Moves a space's deltas into the rollups; returns how many deltas it folded. Each delta
-- counts for its link and for '*' (GROUPING SETS). A per-space lock serialises folds; a delta
-- row is deleted, and so counted, exactly once.
CREATE FUNCTION fold_rollups(p_space_id bigint) RETURNS bigint LANGUAGE sql AS $$
    SELECT pg_advisory_xact_lock(hashtextextended('xt:fold:' || p_space_id, 0));
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
    )
    SELECT count(*) FROM gone;
$$;

-- Recomputes a space's rollups from clicks, journeys and events (after a bulk load with
-- triggers off, or a change of the space's time zone).
CREATE FUNCTION deck_rebuild(p_space_id bigint) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM rollup_deltas WHERE space_id = p_space_id;
    DELETE FROM rollup_quarters WHERE space_id = p_space_id;
    DELETE FROM rollup_days WHERE space_id = p_space_id;
    DELETE FROM rollup_geo_days WHERE space_id = p_space_id;
    INSERT INTO rollup_deltas (space_id, slot, kind, link_slug, country, currency, n, amount)
    SELECT p_space_id, date_bin('15 minutes', created_at, TIMESTAMPTZ '2000-01-01Z'), 'click', coalesce(link_slug, ''), coalesce(country, ''), '',
           count(*), 0
    FROM clicks WHERE space_id = p_space_id GROUP BY 2, 4, 5;
    INSERT INTO rollup_deltas (space_id, slot, kind, link_slug, country, currency, n, amount)
    SELECT p_space_id, date_bin('15 minutes', s.at, TIMESTAMPTZ '2000-01-01Z'), 'stage:' || s.stage, coalesce(c.link_slug, ''),
           CASE WHEN s.stage = 'deposit' THEN coalesce(c.country, '') ELSE '' END, '', count(*), 0
    FROM journeys j
    CROSS JOIN LATERAL (VALUES ('contact', j.contact_at), ('subscribed', j.subscribed_at),
                               ('registration', j.registration_at), ('deposit', j.deposit_at)) AS s(stage, at)
    LEFT JOIN clicks c ON c.space_id = j.space_id AND c.uid = j.uid AND j.clicked_at IS NOT NULL
    WHERE j.space_id = p_space_id AND s.at IS NOT NULL
    GROUP BY 2, 3, 4, 5;
    INSERT INTO rollup_deltas (space_id, slot, kind, link_slug, country, currency, n, amount)
    SELECT p_space_id, date_bin('15 minutes', to_timestamp(e.occurred_at_ms / 1000.0), TIMESTAMPTZ '2000-01-01Z'), k.kind,
           coalesce(c.link_slug, ''), '', k.currency, count(*), coalesce(sum(k.amount), 0)
    FROM events e
    LEFT JOIN clicks c ON c.space_id = e.space_id AND c.uid = e.uid
    CROSS JOIN LATERAL (
        SELECT 'event:' || e.event AS kind, '' AS currency, 0::numeric AS amount
        UNION ALL
        SELECT 'revenue', e.currency, e.value WHERE e.event = 'deposit' AND e.value IS NOT NULL
    ) k
    WHERE e.space_id = p_space_id
    GROUP BY 2, 3, 4, 6;
    PERFORM fold_rollups(p_space_id);
END $$;
