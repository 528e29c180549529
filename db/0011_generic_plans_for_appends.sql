-- The append functions' statements are planned once per connection, not per
-- call. PL/pgSQL plans a statement with the call's values for its first five
-- executions, and then again on every call for as long as the generic plan's
-- estimate is higher than those plans' average cost; for these statements
-- (primary-key lookups, and inserts and updates from arrays) every plan is
-- the same. Under the hot pool benchmark planning was 38% of
-- append_together's time (perf); forced generic plans there gave 1,425-1,453
-- approvals/s instead of 1,207-1,353, and appends to one stream by 16
-- writers 5,323-6,064 events/s instead of 3,951-4,497.
ALTER FUNCTION append_events(text[], bigint[], uuid[], integer[], text[], integer[], text[], text[], timestamptz[], text, bytea)
    SET plan_cache_mode = force_generic_plan;
ALTER FUNCTION append_together(integer[], integer[], text[], bigint[], uuid[], integer[], text[], integer[], text[], text[],
                               timestamptz[], text[], bytea[], boolean)
    SET plan_cache_mode = force_generic_plan;
