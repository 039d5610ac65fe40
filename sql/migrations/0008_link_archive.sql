-- Archiving a link: its landing answers the plain 404 and records nothing, its clicks and
-- reports stay, and its slug stays taken (ads already running with it must never reach
-- another link). NULL: the link is live.

ALTER TABLE links ADD COLUMN archived_at timestamptz;
