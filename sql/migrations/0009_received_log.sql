-- The received log: every ingress request a space's credential was accepted on, as the sender
-- sent it (secrets redacted), with the answer it got and warnings about what looks wrong.
--
-- Rows are written in batches by a background writer (app/received/capture.py), never on the
-- request, and purged by the scheduler once they are both older than RECEIVED_LOG_DAYS and
-- beyond the newest RECEIVED_LOG_MIN_ROWS of their space.

CREATE TABLE received_requests (
    space_id     bigint NOT NULL REFERENCES spaces (id) ON DELETE CASCADE,
    id           bigint GENERATED ALWAYS AS IDENTITY,
    received_at  timestamptz NOT NULL,
    -- 'POST /events', 'GET /e', 'POST /bind', 'GET /bind', 'POST /clicks'
    endpoint     text NOT NULL,
    -- The query (GET) or JSON body (POST), redacted and with long values cut.
    params       json NOT NULL DEFAULT '{}'::json,
    -- A redacted excerpt of a body that is not a JSON object.
    body_excerpt text,
    status       text NOT NULL,
    http_status  smallint NOT NULL,
    inbox_id     bigint,
    uid          text,
    warnings     text[] NOT NULL DEFAULT '{}',
    PRIMARY KEY (space_id, id)
);
-- Newest first is the primary key walked backwards; each filter has an index that serves it in
-- that order (the warned one holds only rows with warnings); the purge reads the time index.
CREATE INDEX received_requests_space_endpoint_idx ON received_requests (space_id, endpoint, id);
CREATE INDEX received_requests_space_status_idx ON received_requests (space_id, status, id);
CREATE INDEX received_requests_space_warned_idx ON received_requests (space_id, id) WHERE warnings <> '{}';
CREATE INDEX received_requests_time_idx ON received_requests (received_at);
