-- The rollup trigger helpers take their changes as one array parameter. Under the default
-- plan_cache_mode, plpgsql re-plans their statements for every call with that array's value
-- (a custom plan), which cost more than running them: about 1 ms per batch, whether the batch
-- holds one event or fifty. Their plans do not depend on the array's contents, so they keep the
-- one generic plan per session.
ALTER FUNCTION rollup_journey_changes(journey_change[]) SET plan_cache_mode = force_generic_plan;
ALTER FUNCTION rollup_event_changes(event_count_change[]) SET plan_cache_mode = force_generic_plan;
