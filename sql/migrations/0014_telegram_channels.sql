-- The Telegram channel funnel (docs/telegram-channel-funnel.md): a space's own bot, its channels,
-- pools of per-click invite links, the durable update queue, join requests, membership facts,
-- the welcome drip and hourly channel stats.
--
-- Every table carries space_id and every key includes it. telegram_bots is small and read by
-- the webhook before a space is known (by its hook id), like links: a reference table under Citus.

CREATE TABLE telegram_bots (
    space_id          bigint NOT NULL REFERENCES spaces (id) ON DELETE CASCADE,
    bot_id            bigint NOT NULL,
    username          text NOT NULL,
    -- AES-256-GCM under the key derived from SECRET_KEY, bound to space and bot (app/lib/secretbox.py).
    token_sealed      bytea NOT NULL,
    token_hint        text NOT NULL,
    -- The webhook's path segment (random, not the bot id) and the SHA-256 of its secret_token.
    hook_id           text NOT NULL,
    secret_token_hash bytea NOT NULL,
    webhook_url       text NOT NULL,
    webhook_set_at    timestamptz,
    webhook_error     text,
    -- One worker at a time sends a bot's messages (its pace is per bot); a 429 pauses them all.
    send_lease_until  timestamptz,
    send_paused_until timestamptz,
    connected_at      timestamptz NOT NULL,
    PRIMARY KEY (space_id)
);
CREATE UNIQUE INDEX telegram_bots_hook_key ON telegram_bots (hook_id);
-- A bot has one webhook, so it can serve one space.
CREATE UNIQUE INDEX telegram_bots_bot_key ON telegram_bots (bot_id);

CREATE TABLE telegram_channels (
    space_id           bigint NOT NULL REFERENCES spaces (id) ON DELETE CASCADE,
    chat_id            bigint NOT NULL,
    title              text NOT NULL,
    username           text,
    chat_type          text NOT NULL,
    -- Where a visitor goes when neither a pooled nor a shared link exists: the public t.me link
    -- or the channel's primary invite link.
    fallback_link      text,
    auto_approve       boolean NOT NULL DEFAULT true,
    connected          boolean NOT NULL DEFAULT true,
    status_note        text,
    status_changed_at  timestamptz NOT NULL,
    member_count       integer,
    member_count_at    timestamptz,
    pool_paused_until  timestamptz,
    pool_error         text,
    pool_checked_at    timestamptz,
    exhausted_count    bigint NOT NULL DEFAULT 0,
    last_exhausted_at  timestamptz,
    created_at         timestamptz NOT NULL,
    PRIMARY KEY (space_id, chat_id)
);
CREATE INDEX telegram_channels_username_idx ON telegram_channels (space_id, lower(username)) WHERE username IS NOT NULL;

-- Invite links we minted. kind 'click': pre-minted with its uid in its name, handed to one click
-- (state ready → handed → used, or revoked when never used); kind 'shared': one per link and
-- channel, the fallback when the pool is empty (attributed to the link, not a click).
CREATE TABLE telegram_invites (
    space_id     bigint NOT NULL REFERENCES spaces (id) ON DELETE CASCADE,
    id           bigint GENERATED ALWAYS AS IDENTITY,
    chat_id      bigint NOT NULL,
    kind         text NOT NULL CHECK (kind IN ('click', 'shared')),
    invite_link  text NOT NULL,
    name         text NOT NULL,
    uid          text CHECK (uid ~ '^[A-Za-z0-9_-]{1,61}$'),
    link_id      bigint,
    state        text NOT NULL CHECK (state IN ('ready', 'handed', 'used', 'revoked')),
    created_at   timestamptz NOT NULL,
    handed_at    timestamptz,
    used_at      timestamptz,
    used_by      bigint,
    revoked_at   timestamptz,
    revoke_error text,
    PRIMARY KEY (space_id, id),
    FOREIGN KEY (space_id, chat_id) REFERENCES telegram_channels (space_id, chat_id) ON DELETE CASCADE,
    CHECK ((kind = 'click') = (uid IS NOT NULL))
);
CREATE UNIQUE INDEX telegram_invites_link_key ON telegram_invites (space_id, invite_link);
CREATE UNIQUE INDEX telegram_invites_uid_key ON telegram_invites (space_id, uid) WHERE uid IS NOT NULL;
CREATE INDEX telegram_invites_ready_idx ON telegram_invites (space_id, chat_id, id) WHERE state = 'ready';
CREATE INDEX telegram_invites_revoke_idx ON telegram_invites (space_id, handed_at)
    WHERE revoked_at IS NULL AND state IN ('handed', 'used');
CREATE UNIQUE INDEX telegram_invites_shared_key ON telegram_invites (space_id, chat_id, link_id)
    WHERE kind = 'shared' AND state <> 'revoked';

-- The durable update queue: the webhook inserts (ON CONFLICT DO NOTHING dedups Telegram's
-- re-deliveries by update_id) and answers; workers claim pending rows with a lease.
CREATE TABLE telegram_updates (
    space_id     bigint NOT NULL REFERENCES spaces (id) ON DELETE CASCADE,
    bot_id       bigint NOT NULL,
    update_id    bigint NOT NULL,
    kind         text NOT NULL,
    body         jsonb NOT NULL,
    received_at  timestamptz NOT NULL,
    state        text NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'done', 'failed')),
    attempts     integer NOT NULL DEFAULT 0,
    lease_until  timestamptz,
    processed_at timestamptz,
    error        text,
    PRIMARY KEY (space_id, bot_id, update_id)
);
CREATE INDEX telegram_updates_pending_idx ON telegram_updates (received_at) WHERE state = 'pending';
CREATE INDEX telegram_updates_received_idx ON telegram_updates (space_id, received_at);

CREATE TABLE telegram_join_requests (
    space_id      bigint NOT NULL REFERENCES spaces (id) ON DELETE CASCADE,
    id            bigint GENERATED ALWAYS AS IDENTITY,
    chat_id       bigint NOT NULL,
    user_id       bigint NOT NULL,
    user_chat_id  bigint,
    user_name     text,
    requested_at  timestamptz NOT NULL,
    received_at   timestamptz NOT NULL,
    invite_link   text,
    -- click: a per-click link (uid known); link: a link's shared invite; none: not ours.
    attribution   text NOT NULL CHECK (attribution IN ('click', 'link', 'none')),
    uid           text,
    link_id       bigint,
    event_id      bigint,
    -- due: approve as soon as the welcome went; manual: left for a human; approved/failed: done.
    decision      text NOT NULL CHECK (decision IN ('due', 'manual', 'approved', 'failed')),
    decided_at    timestamptz,
    error         text,
    attempts      integer NOT NULL DEFAULT 0,
    next_try_at   timestamptz,
    PRIMARY KEY (space_id, id),
    FOREIGN KEY (space_id, chat_id) REFERENCES telegram_channels (space_id, chat_id) ON DELETE CASCADE
);
CREATE UNIQUE INDEX telegram_join_requests_key ON telegram_join_requests (space_id, chat_id, user_id, requested_at);
CREATE INDEX telegram_join_requests_due_idx ON telegram_join_requests (next_try_at) WHERE decision = 'due';
CREATE INDEX telegram_join_requests_list_idx ON telegram_join_requests (space_id, attribution, requested_at DESC);
CREATE INDEX telegram_join_requests_uid_idx ON telegram_join_requests (space_id, uid) WHERE uid IS NOT NULL;

-- Who is in a channel, as our log knows it: the attribution of the first join we saw stays.
CREATE TABLE telegram_members (
    space_id   bigint NOT NULL REFERENCES spaces (id) ON DELETE CASCADE,
    chat_id    bigint NOT NULL,
    user_id    bigint NOT NULL,
    uid        text,
    link_id    bigint,
    joined_at  timestamptz,
    left_at    timestamptz,
    is_member  boolean NOT NULL,
    PRIMARY KEY (space_id, chat_id, user_id)
);

-- Membership facts (not canonical events): every join and leave, attributed where known.
CREATE TABLE telegram_member_events (
    space_id     bigint NOT NULL REFERENCES spaces (id) ON DELETE CASCADE,
    id           bigint GENERATED ALWAYS AS IDENTITY,
    chat_id      bigint NOT NULL,
    user_id      bigint NOT NULL,
    kind         text NOT NULL CHECK (kind IN ('join', 'leave')),
    at           timestamptz NOT NULL,
    uid          text,
    link_id      bigint,
    -- For a leave: when the membership it ends began ("left within N days").
    member_since timestamptz,
    update_id    bigint NOT NULL,
    PRIMARY KEY (space_id, id)
);
CREATE UNIQUE INDEX telegram_member_events_update_key ON telegram_member_events (space_id, chat_id, update_id);
CREATE INDEX telegram_member_events_time_idx ON telegram_member_events (space_id, chat_id, at);
CREATE INDEX telegram_member_events_link_idx ON telegram_member_events (space_id, link_id, at) WHERE link_id IS NOT NULL;
CREATE INDEX telegram_member_events_uid_idx ON telegram_member_events (space_id, uid) WHERE uid IS NOT NULL;

CREATE TABLE telegram_drip_steps (
    space_id      bigint NOT NULL REFERENCES spaces (id) ON DELETE CASCADE,
    chat_id       bigint NOT NULL,
    position      integer NOT NULL CHECK (position BETWEEN 1 AND 20),
    delay_seconds integer NOT NULL CHECK (delay_seconds BETWEEN 0 AND 2592000),
    text_html     text NOT NULL CHECK (length(text_html) BETWEEN 1 AND 4096),
    buttons       jsonb NOT NULL DEFAULT '[]'::jsonb,
    updated_at    timestamptz NOT NULL,
    PRIMARY KEY (space_id, chat_id, position),
    FOREIGN KEY (space_id, chat_id) REFERENCES telegram_channels (space_id, chat_id) ON DELETE CASCADE
);

-- Drip messages scheduled for a person (a copy of the step, so later edits do not change what
-- was planned); sent by workers at Telegram's pace.
CREATE TABLE telegram_messages (
    space_id        bigint NOT NULL REFERENCES spaces (id) ON DELETE CASCADE,
    id              bigint GENERATED ALWAYS AS IDENTITY,
    chat_id         bigint NOT NULL,
    join_request_id bigint NOT NULL,
    user_id         bigint NOT NULL,
    user_chat_id    bigint NOT NULL,
    uid             text,
    position        integer NOT NULL,
    text_html       text NOT NULL,
    buttons         jsonb NOT NULL,
    due_at          timestamptz NOT NULL,
    state           text NOT NULL DEFAULT 'due' CHECK (state IN ('due', 'sent', 'failed', 'stopped')),
    attempts        integer NOT NULL DEFAULT 0,
    lease_until     timestamptz,
    sent_at         timestamptz,
    message_id      bigint,
    error           text,
    PRIMARY KEY (space_id, id)
);
CREATE UNIQUE INDEX telegram_messages_step_key ON telegram_messages (space_id, join_request_id, position);
CREATE INDEX telegram_messages_due_idx ON telegram_messages (due_at) WHERE state = 'due';
CREATE INDEX telegram_messages_user_idx ON telegram_messages (space_id, user_id);
CREATE INDEX telegram_messages_uid_idx ON telegram_messages (space_id, uid) WHERE uid IS NOT NULL;

-- One row per channel and hour: Telegram's member count and our own log's counts.
CREATE TABLE telegram_channel_stats (
    space_id      bigint NOT NULL REFERENCES spaces (id) ON DELETE CASCADE,
    chat_id       bigint NOT NULL,
    hour          timestamptz NOT NULL,
    member_count  integer,
    join_requests integer NOT NULL DEFAULT 0,
    approvals     integer NOT NULL DEFAULT 0,
    joins         integer NOT NULL DEFAULT 0,
    leaves        integer NOT NULL DEFAULT 0,
    PRIMARY KEY (space_id, chat_id, hour)
);

-- Events recorded from Telegram updates carry source 'telegram'. The allowed list is rebuilt
-- from the one in force, so sources other migrations added are kept.
DO $$
DECLARE
    allowed text[];
BEGIN
    SELECT array_agg(m[1]) INTO allowed
    FROM pg_constraint c, regexp_matches(pg_get_constraintdef(c.oid), '''([a-z_]+)''', 'g') AS m
    WHERE c.conrelid = 'events'::regclass AND c.conname = 'events_source_check';
    IF allowed IS NULL THEN
        allowed := ARRAY['post', 'get', 'landing'];
    END IF;
    IF NOT 'telegram' = ANY (allowed) THEN
        ALTER TABLE events DROP CONSTRAINT IF EXISTS events_source_check;
        EXECUTE format('ALTER TABLE events ADD CONSTRAINT events_source_check CHECK (source = ANY (%L::text[]))',
                       allowed || ARRAY['telegram']);
    END IF;
END $$;
