-- What partners really send (docs/received.md, docs/links.md).
--
-- received_requests.error: the exact error text the client was answered with.
-- received_requests.similar_uid: for an unknown uid, a click uid of the space that differs from
--   it only in letter case (a system on the way lower-cased it), found when the row was stored.
-- clicks.flags: what the landing or POST /clicks could not keep as sent (a value cut or dropped
--   because it was too long), so a report can tell "absent" from "too long".
-- The lower(uid) index serves the case-insensitive probe, made only for uids no click has.
ALTER TABLE received_requests ADD COLUMN error text;
ALTER TABLE received_requests ADD COLUMN similar_uid text;
ALTER TABLE clicks ADD COLUMN flags text[] NOT NULL DEFAULT '{}';
CREATE INDEX clicks_space_lower_uid_idx ON clicks (space_id, lower(uid));
