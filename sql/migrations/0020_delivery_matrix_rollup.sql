-- The delivery matrix from a rollup, as the deck's other widgets are.
--
-- The matrix (destination × event × status counts of a range's real deliveries) counted the
-- deliveries themselves, so its time grew with the space's history (9.4x from 10K to 10M
-- events). Now statement triggers on deliveries write grouped deltas (+1 for a new delivery in
-- its status, -1/+1 when a status changes), folded into days in the space's time zone under the
-- same per-space fold lock as the deck's rollups (0016) and rebuilt with them when the zone
-- changes. A read costs the days × destinations × events × statuses it returns.
--
-- Counted: deliveries of non-test events (NOT test), by created_at, as the matrix always did.
-- Deliveries are never deleted row by row (a space's deletion cascades to the rollup too), so
-- there is no DELETE trigger.

CREATE TABLE delivery_deltas (
    space_id       bigint NOT NULL REFERENCES spaces (id) ON DELETE CASCADE,
    slot           timestamptz NOT NULL,
    destination_id bigint NOT NULL,
    event          text NOT NULL,
    status         text NOT NULL,
    n              bigint NOT NULL
);
CREATE INDEX delivery_deltas_space_idx ON delivery_deltas (space_id);

CREATE TABLE delivery_days (
    space_id       bigint NOT NULL REFERENCES spaces (id) ON DELETE CASCADE,
    day            date NOT NULL,
    destination_id bigint NOT NULL,
    event          text NOT NULL,
    status         text NOT NULL,
    n              bigint NOT NULL,
    PRIMARY KEY (space_id, day, destination_id, event, status)
);

CREATE FUNCTION delivery_matrix_inserted() RETURNS trigger LANGUAGE plpgsql AS $fn$
BEGIN
    INSERT INTO delivery_deltas (space_id, slot, destination_id, event, status, n)
    SELECT space_id, xt_slot(created_at), destination_id, event, status, count(*)
    FROM new_deliveries WHERE NOT test
    GROUP BY 1, 2, 3, 4, 5;
    RETURN NULL;
END $fn$;

-- Most updates of deliveries (claims, leases, schedules) change no counted column: nothing is written.
CREATE FUNCTION delivery_matrix_updated() RETURNS trigger LANGUAGE plpgsql AS $fn$
BEGIN
    INSERT INTO delivery_deltas (space_id, slot, destination_id, event, status, n)
    SELECT side.space_id, side.slot, side.destination_id, side.event, side.status, sum(side.sign)
    FROM new_deliveries n JOIN old_deliveries o ON o.space_id = n.space_id AND o.id = n.id
    CROSS JOIN LATERAL (VALUES
        (o.space_id, xt_slot(o.created_at), o.destination_id, o.event, o.status, -1, o.test),
        (n.space_id, xt_slot(n.created_at), n.destination_id, n.event, n.status, 1, n.test)
    ) AS side(space_id, slot, destination_id, event, status, sign, test)
    WHERE (o.status, o.created_at, o.destination_id, o.event, o.test)
          IS DISTINCT FROM (n.status, n.created_at, n.destination_id, n.event, n.test)
      AND NOT side.test
    GROUP BY 1, 2, 3, 4, 5
    HAVING sum(side.sign) <> 0;
    RETURN NULL;
END $fn$;

CREATE TRIGGER deliveries_matrix_insert AFTER INSERT ON deliveries
    REFERENCING NEW TABLE AS new_deliveries FOR EACH STATEMENT EXECUTE FUNCTION delivery_matrix_inserted();
CREATE TRIGGER deliveries_matrix_update AFTER UPDATE ON deliveries
    REFERENCING OLD TABLE AS old_deliveries NEW TABLE AS new_deliveries
    FOR EACH STATEMENT EXECUTE FUNCTION delivery_matrix_updated();

-- Fold the space's delivery deltas into its days (the space's local days); return how many were folded.
CREATE FUNCTION fold_delivery_matrix(p_space_id bigint) RETURNS bigint LANGUAGE sql AS $$
    SELECT rollup_fold_lock(p_space_id);
    WITH gone AS (
        DELETE FROM delivery_deltas WHERE space_id = p_space_id
        RETURNING slot, destination_id, event, status, n
    ), days AS (
        INSERT INTO delivery_days AS r (space_id, day, destination_id, event, status, n)
        SELECT p_space_id, (g.slot AT TIME ZONE s.time_zone)::date, g.destination_id, g.event, g.status, sum(g.n)
        FROM gone g JOIN spaces s ON s.id = p_space_id
        GROUP BY 2, 3, 4, 5
        ON CONFLICT (space_id, day, destination_id, event, status) DO UPDATE SET n = r.n + EXCLUDED.n
    ), mark AS (
        INSERT INTO rollup_fold_marks AS m (space_id, folds)
        SELECT p_space_id, 1 WHERE EXISTS (SELECT 1 FROM gone)
        ON CONFLICT (space_id) DO UPDATE SET folds = m.folds + 1
    )
    SELECT count(*) FROM gone;
$$;

-- Recompute the space's matrix days from its deliveries (after a time-zone change; under the
-- caller's rollup_rebuild_lock like deck_rebuild).
CREATE FUNCTION delivery_matrix_rebuild(p_space_id bigint) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM delivery_deltas WHERE space_id = p_space_id;
    DELETE FROM delivery_days WHERE space_id = p_space_id;
    INSERT INTO delivery_deltas (space_id, slot, destination_id, event, status, n)
    SELECT p_space_id, xt_slot(created_at), destination_id, event, status, count(*)
    FROM deliveries WHERE space_id = p_space_id AND NOT test
    GROUP BY 2, 3, 4, 5;
    PERFORM fold_delivery_matrix(p_space_id);
END $$;

SELECT delivery_matrix_rebuild(id) FROM spaces;
