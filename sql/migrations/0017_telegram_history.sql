-- Retention of the Telegram log (TELEGRAM_HISTORY_DAYS, jobs/telegram.py purge_old_history): the
-- hourly purge finds what is old across all spaces by time, not per space.
CREATE INDEX telegram_messages_done_age_idx ON telegram_messages (coalesce(sent_at, due_at)) WHERE state <> 'due';
CREATE INDEX telegram_join_requests_age_idx ON telegram_join_requests (requested_at)
    WHERE decision IN ('approved', 'failed');
CREATE INDEX telegram_member_events_age_idx ON telegram_member_events (at);

-- A person's join requests across the space's channels (/start resumes or starts their drip).
CREATE INDEX telegram_join_requests_user_idx ON telegram_join_requests (space_id, user_id, requested_at DESC);
