-- Spaces, people, credentials, clicks, journeys and the event inbox.
--
-- Every table of space data carries space_id, and every primary key, unique constraint and
-- foreign key on it includes space_id, so the schema can be distributed by space (Citus) as is.

CREATE TABLE spaces (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    slug        text NOT NULL UNIQUE CHECK (slug ~ '^[a-z0-9][a-z0-9-]{0,62}$'),
    name        text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    time_zone   text NOT NULL DEFAULT 'UTC',
    currency    text NOT NULL DEFAULT 'USD' CHECK (currency ~ '^[A-Z]{3}$'),
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE users (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    email         text NOT NULL CHECK (email = lower(email) AND email LIKE '%_@_%'),
    password_hash text NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX users_email_key ON users (email);

CREATE TABLE memberships (
    space_id   bigint NOT NULL REFERENCES spaces (id) ON DELETE CASCADE,
    user_id    bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role       text NOT NULL CHECK (role IN ('viewer', 'operator', 'admin')),
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (space_id, user_id)
);
CREATE INDEX memberships_user_idx ON memberships (user_id);

-- Secrets are stored as SHA-256 digests only; they are 256-bit random, so a fast digest is
-- enough (nothing to brute-force). A rotated-out secret gets expires_at = rotation + grace.
-- The digest index is global because a request names no space until its secret is looked up;
-- under Citus this small table is a reference table.
CREATE TABLE api_keys (
    space_id    bigint NOT NULL REFERENCES spaces (id) ON DELETE CASCADE,
    id          bigint GENERATED ALWAYS AS IDENTITY,
    kind        text NOT NULL CHECK (kind IN ('bearer', 'ingest')),
    secret_hash bytea NOT NULL,
    hint        text NOT NULL,
    created_at  timestamptz NOT NULL,
    expires_at  timestamptz,
    PRIMARY KEY (space_id, id)
);
CREATE UNIQUE INDEX api_keys_secret_hash_key ON api_keys (secret_hash);
CREATE INDEX api_keys_space_kind_idx ON api_keys (space_id, kind, created_at DESC);

-- One row per click: the tracker's landing or POST /clicks mints the uid.
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
    PRIMARY KEY (space_id, uid)
);
CREATE INDEX clicks_space_time_idx ON clicks (space_id, created_at);

-- One row per uid: where the person is in the funnel. Created by a click, a bind or the
-- first event naming the uid, whichever comes first (events may precede their click).
-- Stage times are the earliest occurred_at of that stage; revenue is per currency.
CREATE TABLE journeys (
    space_id         bigint NOT NULL REFERENCES spaces (id) ON DELETE CASCADE,
    uid              text NOT NULL,
    created_at       timestamptz NOT NULL,
    clicked_at       timestamptz,
    tg_id            bigint,
    bound_at         timestamptz,
    contact_at       timestamptz,
    subscribed_at    timestamptz,
    registration_at  timestamptz,
    deposit_at       timestamptz,
    last_event_at    timestamptz,
    event_count      integer NOT NULL DEFAULT 0,
    deposit_count    integer NOT NULL DEFAULT 0,
    revenue          jsonb NOT NULL DEFAULT '{}'::jsonb,
    PRIMARY KEY (space_id, uid)
);
CREATE INDEX journeys_space_tg_idx ON journeys (space_id, tg_id, bound_at DESC) WHERE tg_id IS NOT NULL;
CREATE INDEX journeys_space_created_idx ON journeys (space_id, created_at);

-- The durable inbox. dedup_key is 'eid:<event>:<eid>' when an eid was sent, else
-- 'at:<event>:<uid>:<tg_id>:<occurred_at_ms>'; the unique constraint alone decides
-- queued vs duplicate.
CREATE TABLE events (
    space_id       bigint NOT NULL REFERENCES spaces (id) ON DELETE CASCADE,
    id             bigint GENERATED ALWAYS AS IDENTITY,
    event          text NOT NULL CHECK (event IN ('contact', 'subscribed', 'registration', 'deposit')),
    uid            text,
    tg_id          bigint,
    eid            text,
    value          numeric(24, 6),
    currency       text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    occurred_at_ms bigint NOT NULL,
    received_at    timestamptz NOT NULL,
    source         text NOT NULL CHECK (source IN ('post', 'get', 'landing')),
    flags          text[] NOT NULL DEFAULT '{}',
    dedup_key      text NOT NULL,
    PRIMARY KEY (space_id, id)
);
CREATE UNIQUE INDEX events_dedup_key ON events (space_id, dedup_key);
CREATE INDEX events_space_received_idx ON events (space_id, received_at);
CREATE INDEX events_space_uid_idx ON events (space_id, uid) WHERE uid IS NOT NULL;
CREATE INDEX events_space_unbound_tg_idx ON events (space_id, tg_id) WHERE uid IS NULL AND tg_id IS NOT NULL;
