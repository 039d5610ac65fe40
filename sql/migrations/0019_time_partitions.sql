-- The append-only logs are partitioned by day (native declarative partitioning) and kept by
-- pg_partman: delivery_attempts by started_at, received_requests by received_at.
--
-- pg_partman (Debian: postgresql-NN-partman; offered by the managed PostgreSQL services) creates
-- the days ahead and, given a retention, detaches the days behind; the scheduler's
-- maintain_partitions task (app/partitions.py) drives both with the retention settings
-- (DELIVERY_ATTEMPT_DAYS, RECEIVED_LOG_DAYS), so retention drops a partition instead of deleting
-- rows. A row whose day has no partition (maintenance stopped for longer than the days made
-- ahead, or rows kept past their day) lands in the table's default partition, which the same
-- task trims by the same retention.
--
-- A partitioned table's primary key must include the partition key, so the key becomes
-- (space_id, id, <time>); ids stay unique (one identity sequence), and nothing references
-- either table.
--
-- The old rows: the old table is renamed *_legacy and a new partitioned table takes its name,
-- both metadata-only. A legacy table of at most 100,000 rows is copied here and dropped; a larger
-- one is left for the online backfill (scripts/partition_backfill.py, docs/scaling.md), which
-- copies it in short batches while the app runs, then drops it.

DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'pg_partman') THEN
        RAISE EXCEPTION 'XTRACKER needs the pg_partman extension on its PostgreSQL server'
            USING HINT = 'Debian/Ubuntu: apt-get install postgresql-'
                         || current_setting('server_version_num')::int / 10000 || '-partman; '
                         || 'managed services: enable pg_partman (see docs/scaling.md)';
    END IF;
END $$;
CREATE SCHEMA IF NOT EXISTS partman;
CREATE EXTENSION IF NOT EXISTS pg_partman SCHEMA partman;

-- delivery_attempts ------------------------------------------------------------------------------

ALTER TABLE delivery_attempts RENAME TO delivery_attempts_legacy;
ALTER INDEX delivery_attempts_pkey RENAME TO delivery_attempts_legacy_pkey;
ALTER INDEX delivery_attempts_delivery_idx RENAME TO delivery_attempts_legacy_delivery_idx;
ALTER TABLE delivery_attempts_legacy RENAME CONSTRAINT delivery_attempts_space_id_delivery_id_fkey
    TO delivery_attempts_legacy_delivery_fkey;
ALTER TABLE delivery_attempts_legacy RENAME CONSTRAINT delivery_attempts_outcome_check
    TO delivery_attempts_legacy_outcome_check;
ALTER TABLE delivery_attempts_legacy RENAME CONSTRAINT delivery_attempts_trigger_check
    TO delivery_attempts_legacy_trigger_check;

CREATE TABLE delivery_attempts (
    space_id         bigint NOT NULL,
    id               bigint GENERATED ALWAYS AS IDENTITY,
    delivery_id      bigint NOT NULL,
    started_at       timestamptz NOT NULL,
    duration_ms      integer NOT NULL,
    trigger          text NOT NULL CHECK (trigger IN ('auto', 'manual')),
    outcome          text NOT NULL CHECK (outcome IN ('delivered', 'failed', 'dead')),
    status_code      integer,
    request_excerpt  text,
    response_excerpt text,
    error            text,
    PRIMARY KEY (space_id, id, started_at),
    FOREIGN KEY (space_id, delivery_id) REFERENCES deliveries (space_id, id) ON DELETE CASCADE
) PARTITION BY RANGE (started_at);
CREATE INDEX delivery_attempts_delivery_idx ON delivery_attempts (space_id, delivery_id, started_at);

-- received_requests ------------------------------------------------------------------------------

ALTER TABLE received_requests RENAME TO received_requests_legacy;
ALTER INDEX received_requests_pkey RENAME TO received_requests_legacy_pkey;
ALTER INDEX received_requests_space_endpoint_idx RENAME TO received_requests_legacy_endpoint_idx;
ALTER INDEX received_requests_space_status_idx RENAME TO received_requests_legacy_status_idx;
ALTER INDEX received_requests_space_warned_idx RENAME TO received_requests_legacy_warned_idx;
ALTER INDEX received_requests_time_idx RENAME TO received_requests_legacy_time_idx;
ALTER TABLE received_requests_legacy RENAME CONSTRAINT received_requests_space_id_fkey
    TO received_requests_legacy_space_id_fkey;

CREATE TABLE received_requests (
    space_id     bigint NOT NULL REFERENCES spaces (id) ON DELETE CASCADE,
    id           bigint GENERATED ALWAYS AS IDENTITY,
    received_at  timestamptz NOT NULL,
    endpoint     text NOT NULL,
    params       json NOT NULL DEFAULT '{}'::json,
    body_excerpt text,
    status       text NOT NULL,
    http_status  smallint NOT NULL,
    inbox_id     bigint,
    uid          text,
    warnings     text[] NOT NULL DEFAULT '{}',
    error        text,
    similar_uid  text,
    -- Newest first is this key walked backwards within a space, as before.
    PRIMARY KEY (space_id, id, received_at)
) PARTITION BY RANGE (received_at);
CREATE INDEX received_requests_space_endpoint_idx ON received_requests (space_id, endpoint, id);
CREATE INDEX received_requests_space_status_idx ON received_requests (space_id, status, id);
CREATE INDEX received_requests_space_warned_idx ON received_requests (space_id, id) WHERE warnings <> '{}';

-- Both: ids continue after the legacy table's, days are made ahead, small legacy tables move now.

CREATE FUNCTION xt_partition_legacy(p_table text, p_column text) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    legacy text := p_table || '_legacy';
    last_id bigint := coalesce(pg_sequence_last_value(pg_get_serial_sequence(legacy, 'id')::regclass), 0);
    small boolean;
    -- The copy limit can be lowered for a session (tests: SET xtracker.partition_copy_max = 1000).
    copy_max int := coalesce(nullif(current_setting('xtracker.partition_copy_max', true), '')::int, 100000);
    first_day timestamptz := date_trunc('day', now(), 'UTC');
BEGIN
    PERFORM setval(pg_get_serial_sequence(p_table, 'id'), greatest(last_id, 1), last_id > 0);
    EXECUTE format('SELECT count(*) <= %s FROM (SELECT 1 FROM %I LIMIT %s) s', copy_max, legacy, copy_max + 1)
        INTO small;
    IF last_id > 0 THEN
        -- Old rows get their days too (up to a month back); older ones go to the default partition.
        first_day := first_day - interval '30 days';
    END IF;
    PERFORM partman.create_parent('public.' || p_table, p_column, 'native', 'daily',
                                  p_premake := 7, p_start_partition := first_day::text);
    -- Days ahead of today, not only ahead of the newest row (a quiet log still gets its days).
    UPDATE partman.part_config SET infinite_time_partitions = true WHERE parent_table = 'public.' || p_table;
    IF small THEN
        EXECUTE format('INSERT INTO %I OVERRIDING SYSTEM VALUE SELECT * FROM %I', p_table, legacy);
        EXECUTE format('DROP TABLE %I', legacy);
    ELSE
        RAISE NOTICE '% keeps more than % rows: run scripts/partition_backfill.py to move them', legacy, copy_max;
    END IF;
END $$;

SELECT xt_partition_legacy('delivery_attempts', 'started_at');
SELECT xt_partition_legacy('received_requests', 'received_at');
DROP FUNCTION xt_partition_legacy(text, text);
