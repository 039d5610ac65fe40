-- Links (the tracker's landings), custom landing domains, and the click columns a landing fills.
--
-- A slug is served at /<slug> on the tracker's own hosts, which every space shares, so slugs are
-- unique across spaces. links and domains are small, read-mostly tables: under Citus they are
-- reference tables, which is what lets their hostname/slug indexes be global.

CREATE TABLE links (
    space_id          bigint NOT NULL REFERENCES spaces (id) ON DELETE CASCADE,
    id                bigint GENERATED ALWAYS AS IDENTITY,
    slug              text NOT NULL CHECK (slug ~ '^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$'),
    name              text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    kind              text NOT NULL CHECK (kind IN ('bot', 'channel', 'web')),
    -- bot: the bot's username; channel: its public t.me URL; web: an http(s) URL, {uid} optional.
    target            text NOT NULL CHECK (length(target) BETWEEN 1 AND 2048),
    -- page: a tiny page that opens the target at once, with a button as fallback; redirect: a 302.
    mode              text NOT NULL DEFAULT 'page' CHECK (mode IN ('page', 'redirect')),
    emit_contact      boolean NOT NULL DEFAULT true,
    -- utm_* and campaign_name values a click takes when its URL does not carry them.
    campaign_defaults jsonb NOT NULL DEFAULT '{}'::jsonb,
    created_at        timestamptz NOT NULL,
    updated_at        timestamptz NOT NULL,
    PRIMARY KEY (space_id, id)
);
CREATE UNIQUE INDEX links_slug_key ON links (slug);
CREATE UNIQUE INDEX links_space_slug_key ON links (space_id, slug);

-- A space's landing hostnames. Anyone may add a name; the first space whose check passes owns
-- it, so an unverified claim never blocks the real owner.
CREATE TABLE domains (
    space_id    bigint NOT NULL REFERENCES spaces (id) ON DELETE CASCADE,
    hostname    text NOT NULL CHECK (hostname ~ '^[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?$'),
    created_at  timestamptz NOT NULL,
    verified_at timestamptz,
    checked_at  timestamptz,
    check_note  text,
    PRIMARY KEY (space_id, hostname)
);
CREATE UNIQUE INDEX domains_verified_hostname_key ON domains (hostname) WHERE verified_at IS NOT NULL;

ALTER TABLE clicks
    ADD COLUMN link_id     bigint,
    ADD COLUMN referrer    text,
    ADD COLUMN campaign_id text,
    ADD COLUMN adset_name  text,
    ADD COLUMN adset_id    text,
    ADD COLUMN ad_name     text,
    ADD COLUMN ad_id       text,
    ADD CONSTRAINT clicks_link_fkey FOREIGN KEY (space_id, link_id) REFERENCES links (space_id, id);
CREATE INDEX clicks_space_link_time_idx ON clicks (space_id, link_id, created_at) WHERE link_id IS NOT NULL;
