-- Sums two per-currency revenue maps ({"USD": "25.000000"}); amounts are kept as strings so no
-- client reads them through a float.
CREATE FUNCTION revenue_add(a jsonb, b jsonb) RETURNS jsonb
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT coalesce(jsonb_object_agg(currency, total::text), '{}'::jsonb)
    FROM (
        SELECT currency, sum(amount::numeric) AS total
        FROM (
            SELECT key AS currency, value #>> '{}' AS amount FROM jsonb_each(coalesce(a, '{}'::jsonb))
            UNION ALL
            SELECT key, value #>> '{}' FROM jsonb_each(coalesce(b, '{}'::jsonb))
        ) parts
        GROUP BY currency
    ) sums
$$;

-- Counts of refused ingress requests per space, day, endpoint and status, so integrators and
-- operators can see what is being rejected without reading logs.
CREATE TABLE ingress_rejections (
    space_id bigint NOT NULL REFERENCES spaces (id) ON DELETE CASCADE,
    day      date NOT NULL,
    endpoint text NOT NULL,
    status   text NOT NULL,
    count    bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (space_id, day, endpoint, status)
);
