-- Keys ready for distribution by space_id (Citus): no unique index on space data spans spaces.
--
-- Three names are unique across spaces by product rule: a link's slug (landings share the
-- tracker's hosts), a verified landing hostname, and a Telegram bot (its updates reach one space).
-- They move to global_names, a small directory that becomes a reference table: the store
-- functions that create, verify, release or replace such a name write its directory row in the
-- same transaction (app/link/store.py, app/telegram/store.py), and the primary key of
-- global_names alone decides who owns it. Lookups by such a name read the directory first,
-- then the space's own rows.
--
-- Three digests were unique only because they are random (an API key's secret, an invitation
-- token, a Telegram webhook path): 128+ random bits never collide, so a plain index serves their
-- lookup, and it is not a constraint a shard would have to enforce across spaces.
-- tests/test_schema_keys.py reads the catalog and fails on any table that breaks these rules.

CREATE TABLE global_names (
    kind     text NOT NULL CHECK (kind IN ('link_slug', 'hostname', 'telegram_bot')),
    name     text NOT NULL,
    space_id bigint NOT NULL REFERENCES spaces (id) ON DELETE CASCADE,
    PRIMARY KEY (kind, name)
);
CREATE INDEX global_names_space_idx ON global_names (space_id, kind);

INSERT INTO global_names (kind, name, space_id)
SELECT 'link_slug', slug, space_id FROM links;
INSERT INTO global_names (kind, name, space_id)
SELECT 'hostname', hostname, space_id FROM domains WHERE verified_at IS NOT NULL;
INSERT INTO global_names (kind, name, space_id)
SELECT 'telegram_bot', bot_id::text, space_id FROM telegram_bots;

DROP INDEX links_slug_key;
DROP INDEX domains_verified_hostname_key;
CREATE INDEX domains_hostname_idx ON domains (hostname);
ALTER TABLE telegram_bots DROP CONSTRAINT IF EXISTS telegram_bots_bot_key;
DROP INDEX IF EXISTS telegram_bots_bot_key;

DROP INDEX api_keys_secret_hash_key;
CREATE INDEX api_keys_secret_hash_idx ON api_keys (secret_hash);
ALTER TABLE invitations DROP CONSTRAINT IF EXISTS invitations_token_hash_key;
DROP INDEX IF EXISTS invitations_token_hash_key;
CREATE INDEX invitations_token_hash_idx ON invitations (token_hash);
ALTER TABLE telegram_bots DROP CONSTRAINT IF EXISTS telegram_bots_hook_key;
DROP INDEX IF EXISTS telegram_bots_hook_key;
CREATE INDEX telegram_bots_hook_idx ON telegram_bots (hook_id);
