-- Destinations, their event maps, and the durable outbox (deliveries) with its attempt log.
--
-- A delivery row is written in the same statement as the accepted event (app/ingress/store.py),
-- one per (event, destination) whose event map maps the event; the unique constraint makes a
-- second fan-out of the same event impossible.

CREATE TABLE destinations (
    space_id          bigint NOT NULL REFERENCES spaces (id) ON DELETE CASCADE,
    id                bigint GENERATED ALWAYS AS IDENTITY,
    kind              text NOT NULL CHECK (kind IN ('capi', 'webhook', 'postback')),
    name              text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    -- Non-secret settings: url (webhook), url_template/method/expect_status (postback),
    -- pixel_id/graph_version/test_event_code (capi).
    config            jsonb NOT NULL,
    -- The signing secret (webhook) or access token (capi), AES-256-GCM under a key derived from
    -- SECRET_KEY; secret_hint is the only part ever shown again.
    secret            bytea,
    secret_hint       text,
    -- A rotated-out webhook secret keeps signing (as a second signature) until it expires.
    previous_secret   bytea,
    previous_secret_expires_at timestamptz,
    -- Canonical event -> destination event name; an event absent from the map is off.
    event_map         jsonb NOT NULL,
    created_at        timestamptz NOT NULL,
    paused_at         timestamptz,
    paused_reason     text,
    -- First failure of the current unbroken run of failures; cleared by any success.
    failing_since     timestamptz,
    PRIMARY KEY (space_id, id)
);

-- The outbox. next_attempt_at is the claim key: the time the row is next due (a retry, a
-- manual request, or the end of a worker's lease on it), NULL once delivered or dead, and
-- 'infinity' while its destination is paused. auto_next_at keeps the automatic schedule's
-- next time so that a manual attempt does not disturb it.
CREATE TABLE deliveries (
    space_id            bigint NOT NULL,
    id                  bigint GENERATED ALWAYS AS IDENTITY,
    event_id            bigint NOT NULL,
    destination_id      bigint NOT NULL,
    event               text NOT NULL,
    status              text NOT NULL DEFAULT 'pending'
                        CHECK (status IN ('pending', 'failed', 'delivered', 'dead')),
    created_at          timestamptz NOT NULL,
    attempts            integer NOT NULL DEFAULT 0,
    next_attempt_at     timestamptz,
    auto_next_at        timestamptz,
    lease_token         uuid,
    manual_requested_at timestamptz,
    last_attempt_at     timestamptz,
    last_status_code    integer,
    last_error          text,
    delivered_at        timestamptz,
    PRIMARY KEY (space_id, id),
    FOREIGN KEY (space_id, destination_id) REFERENCES destinations (space_id, id) ON DELETE CASCADE
);
CREATE UNIQUE INDEX deliveries_event_destination_key ON deliveries (space_id, event_id, destination_id);
CREATE INDEX deliveries_due_idx ON deliveries (next_attempt_at) WHERE next_attempt_at IS NOT NULL;
CREATE INDEX deliveries_matrix_idx ON deliveries (space_id, created_at) INCLUDE (destination_id, event, status);
CREATE INDEX deliveries_destination_idx ON deliveries (space_id, destination_id, event, created_at);

-- One row per request made for a delivery (a CAPI batch request logs one row per delivery in it).
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
    PRIMARY KEY (space_id, id),
    FOREIGN KEY (space_id, delivery_id) REFERENCES deliveries (space_id, id) ON DELETE CASCADE
);
CREATE INDEX delivery_attempts_delivery_idx ON delivery_attempts (space_id, delivery_id, started_at);
