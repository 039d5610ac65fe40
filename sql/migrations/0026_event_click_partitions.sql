-- The firehose tables are partitioned by day too, as 0019 did for the logs: events by received_at,
-- clicks by created_at, made ahead and dropped by retention (EVENT_DAYS, CLICK_DAYS) through
-- pg_partman and the scheduler's maintain_partitions task (app/partitions/).
--
-- Exactly-once: a unique constraint on a partitioned table must include the partition key, so
-- (space_id, dedup_key) cannot stay unique on events. The decision moves to a side table,
-- event_keys, whose primary key is (space_id, dedup_key): the ingest statement inserts the key
-- first (ON CONFLICT DO NOTHING) and only the keys it inserted become events, in the same
-- statement, so a duplicate is still refused by a constraint, whatever the concurrency. A day of
-- events dropped by retention takes its keys with it (app/partitions/store.py).
--
-- Clicks: the key becomes (space_id, uid, created_at). A uid is minted by XTRACKER (128 random
-- bits before, 114 random bits plus the click's day now, app/lib/tokens.py), never chosen by a
-- caller, so uniqueness across days rests on the randomness, as before; xt_uid_day(uid) reads a
-- new uid's day back so a lookup by uid can be confined to its day's partition.
--
-- Nothing references events or clicks by foreign key (deliveries carry event_id and, as
-- created_at, the event's received_at; journeys carry the uid): nothing to recompose.
--
-- The statement triggers (rollups, reports) move to the new tables unchanged, except that they do
-- not fire while rows of a legacy table are being moved (SET LOCAL xtracker.moving_legacy = 'on'
-- in that transaction only): those rows were counted when they arrived.
--
-- The old rows: as in 0019, the old tables become *_legacy (metadata only); a table of at most
-- 100,000 rows is copied here, a larger one by scripts/partition_backfill.py while the app runs.
-- Two things are done here whatever the size: every legacy event's dedup key goes into
-- event_keys (a duplicate of an old event must stay a duplicate during the backfill), and the
-- legacy events a bind can still change (uid IS NULL, tg_id set) move now.

CREATE FUNCTION xt_uid_day(uid text) RETURNS timestamptz LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    -- The UTC day a uid minted since 0026 carries (its first three characters, base64url, days
    -- since 2020-01-01), or NULL for an older uid (22 characters ending in A, Q, g or w) or one
    -- of another shape. Mirrors app/lib/tokens.uid_day.
    SELECT CASE WHEN length(uid) = 22 AND right(uid, 1) NOT IN ('A', 'Q', 'g', 'w')
                 AND left(uid, 3) ~ '^[A-Za-z0-9_-]{3}$' THEN
        timestamptz '2020-01-01 00:00:00+00' + make_interval(days =>
            (strpos('ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_', substr(uid, 1, 1)) - 1) * 4096
          + (strpos('ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_', substr(uid, 2, 1)) - 1) * 64
          + (strpos('ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_', substr(uid, 3, 1)) - 1))
    END
$$;

-- events -----------------------------------------------------------------------------------------

ALTER TABLE events RENAME TO events_legacy;
ALTER SEQUENCE events_id_seq RENAME TO events_legacy_id_seq;
ALTER INDEX events_pkey RENAME TO events_legacy_pkey;
ALTER INDEX events_dedup_key RENAME TO events_legacy_dedup_key;
ALTER INDEX events_space_received_idx RENAME TO events_legacy_space_received_idx;
ALTER INDEX events_space_uid_idx RENAME TO events_legacy_space_uid_idx;
ALTER INDEX events_space_unbound_tg_idx RENAME TO events_legacy_space_unbound_tg_idx;

CREATE TABLE events (
    space_id       bigint NOT NULL REFERENCES spaces (id) ON DELETE CASCADE,
    id             bigint GENERATED ALWAYS AS IDENTITY,
    event          text NOT NULL CHECK (event IN ('contact', 'subscribed', 'registration', 'deposit')),
    uid            text,
    tg_id          bigint,
    eid            text,
    value          numeric(24,6),
    currency       text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    occurred_at_ms bigint NOT NULL,
    received_at    timestamptz NOT NULL,
    source         text NOT NULL CHECK (source IN ('post', 'get', 'landing', 'telegram')),
    flags          text[] NOT NULL DEFAULT '{}',
    dedup_key      text NOT NULL,
    test           boolean NOT NULL DEFAULT false,
    PRIMARY KEY (space_id, id, received_at)
) PARTITION BY RANGE (received_at);
CREATE INDEX events_space_received_idx ON events (space_id, received_at);
CREATE INDEX events_space_uid_idx ON events (space_id, uid) WHERE uid IS NOT NULL;
CREATE INDEX events_space_unbound_tg_idx ON events (space_id, tg_id) WHERE uid IS NULL AND tg_id IS NOT NULL;

-- The dedup decision: one row per recorded event, written by the same statement.
CREATE TABLE event_keys (
    space_id    bigint NOT NULL REFERENCES spaces (id) ON DELETE CASCADE,
    dedup_key   text NOT NULL,
    event_id    bigint NOT NULL,
    received_at timestamptz NOT NULL
);
INSERT INTO event_keys (space_id, dedup_key, event_id, received_at)
SELECT space_id, dedup_key, id, received_at FROM events_legacy;
ALTER TABLE event_keys ADD PRIMARY KEY (space_id, dedup_key);

-- clicks -----------------------------------------------------------------------------------------

ALTER TABLE clicks RENAME TO clicks_legacy;
ALTER INDEX clicks_pkey RENAME TO clicks_legacy_pkey;
ALTER INDEX clicks_space_link_time_idx RENAME TO clicks_legacy_space_link_time_idx;
ALTER INDEX clicks_space_lower_uid_idx RENAME TO clicks_legacy_space_lower_uid_idx;
ALTER INDEX clicks_space_time_idx RENAME TO clicks_legacy_space_time_idx;

CREATE TABLE clicks (
    space_id      bigint NOT NULL REFERENCES spaces (id) ON DELETE CASCADE,
    uid           text NOT NULL CHECK (uid ~ '^[A-Za-z0-9_-]{1,61}$'),
    created_at    timestamptz NOT NULL,
    source        text NOT NULL CHECK (source IN ('landing', 'api')),
    link_slug     text,
    fbclid        text,
    fbc           text,
    fbp           text,
    campaign_name text,
    utm_source    text,
    utm_medium    text,
    utm_campaign  text,
    utm_content   text,
    utm_term      text,
    raw_query     text,
    client_ip     inet,
    user_agent    text,
    country       text CHECK (country ~ '^[A-Z]{2}$'),
    link_id       bigint,
    referrer      text,
    campaign_id   text,
    adset_name    text,
    adset_id      text,
    ad_name       text,
    ad_id         text,
    flags         text[] NOT NULL DEFAULT '{}',
    PRIMARY KEY (space_id, uid, created_at),
    CONSTRAINT clicks_link_fkey FOREIGN KEY (space_id, link_id) REFERENCES links (space_id, id)
) PARTITION BY RANGE (created_at);
CREATE INDEX clicks_space_link_time_idx ON clicks (space_id, link_id, created_at) WHERE link_id IS NOT NULL;
CREATE INDEX clicks_space_lower_uid_idx ON clicks (space_id, lower(uid));
CREATE INDEX clicks_space_time_idx ON clicks (space_id, created_at);

-- Both: the statement triggers move, days are made ahead, small legacy tables move now. ----------

CREATE FUNCTION xt_partition_firehose(p_table text, p_column text) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    legacy text := p_table || '_legacy';
    has_ids boolean := p_table = 'events';
    last_id bigint;
    small boolean;
    copy_max int := coalesce(nullif(current_setting('xtracker.partition_copy_max', true), '')::int, 100000);
    first_day timestamptz := date_trunc('day', now(), 'UTC');
    has_rows boolean;
    trig record;
BEGIN
    FOR trig IN SELECT t.tgname, pg_get_triggerdef(t.oid) AS def FROM pg_trigger t
                WHERE t.tgrelid = legacy::regclass AND NOT t.tgisinternal ORDER BY t.tgname LOOP
        EXECUTE format('DROP TRIGGER %I ON %I', trig.tgname, legacy);
        EXECUTE replace(replace(trig.def, ' ON public.' || legacy || ' ', ' ON public.' || p_table || ' '),
                        ' EXECUTE FUNCTION ',
                        ' WHEN (current_setting(''xtracker.moving_legacy'', true) IS DISTINCT FROM ''on'')'
                        ' EXECUTE FUNCTION ');
    END LOOP;
    IF has_ids THEN
        last_id := coalesce(pg_sequence_last_value(pg_get_serial_sequence(legacy, 'id')::regclass), 0);
        PERFORM setval(pg_get_serial_sequence(p_table, 'id'), greatest(last_id, 1), last_id > 0);
    END IF;
    EXECUTE format('SELECT EXISTS (SELECT 1 FROM %I)', legacy) INTO has_rows;
    EXECUTE format('SELECT count(*) <= %s FROM (SELECT 1 FROM %I LIMIT %s) s', copy_max, legacy, copy_max + 1)
        INTO small;
    IF has_rows THEN
        first_day := first_day - interval '30 days';
    END IF;
    PERFORM partman.create_parent('public.' || p_table, p_column, 'native', 'daily',
                                  p_premake := 7, p_start_partition := first_day::text);
    UPDATE partman.part_config SET infinite_time_partitions = true WHERE parent_table = 'public.' || p_table;
    PERFORM set_config('xtracker.moving_legacy', 'on', true);
    IF small THEN
        EXECUTE format('INSERT INTO %I OVERRIDING SYSTEM VALUE SELECT * FROM %I', p_table, legacy);
        EXECUTE format('DROP TABLE %I', legacy);
    ELSE
        IF has_ids THEN
            -- The rows a bind can still update (backfill_tg_events) move now, through their partial index.
            WITH moved AS (
                DELETE FROM events_legacy WHERE uid IS NULL AND tg_id IS NOT NULL RETURNING *
            ) INSERT INTO events OVERRIDING SYSTEM VALUE SELECT * FROM moved;
        END IF;
        RAISE NOTICE '% keeps more than % rows: run scripts/partition_backfill.py to move them', legacy, copy_max;
    END IF;
    PERFORM set_config('xtracker.moving_legacy', '', true);
END $$;

SELECT xt_partition_firehose('events', 'received_at');
SELECT xt_partition_firehose('clicks', 'created_at');
DROP FUNCTION xt_partition_firehose(text, text);
