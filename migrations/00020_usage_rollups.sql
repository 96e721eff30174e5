-- Report rollups (issue 13): the usage reports read thousands of aggregate
-- rows instead of a million sessions. Each session records who had its
-- machine when it ran (and where the machine was), and four aggregates of
-- the sessions are kept exact by statement triggers on machine_sessions, in
-- the same transaction as the write that changes them:
--
--   usage_machine_day     per machine, UTC day, user at the time and region
--   usage_machine_week    the same per ISO week (Monday 00:00 UTC)
--   usage_region_quarter  per 15 minutes and region (days in any time zone,
--                         the fleet's totals, the region chart)
--   usage_user_quarter    per 15 minutes and user at the time (the user chart)
--
-- internal/db/reports.go reads them: a range is cut into whole weeks, whole
-- days and the raw sessions at its edges (internal/db/reports_plan.go).
-- Every bucket is a half-open range of instants; intervals are in hours or
-- minutes, never days, so no connection time zone or DST changes a bucket.
-- usage_rollups_rebuild() recomputes all four from the sessions (used
-- below, and by tests to check the triggers never drift).

-- +goose Up

ALTER TABLE machine_sessions
    -- The machine's user (lowercased) when the session ran: NULL when the
    -- machine had none. Set when the session is first stored, from the
    -- snapshot in force at its start (usage_owner_at), and never changed.
    ADD COLUMN user_email text NULL,
    -- The machine's region when the session ran ('' when unknown).
    ADD COLUMN region     text NOT NULL DEFAULT '';

-- Who had a machine at an instant: the newest snapshot taken at or before
-- it; for a session older than every snapshot, the oldest snapshot (the
-- first the dashboard knows); with no snapshot at all, the latest known
-- state. No row: the machine is unknown.
-- +goose StatementBegin
CREATE FUNCTION usage_owner_at(p_machine text, p_at timestamptz)
RETURNS TABLE (user_email text, region text)
LANGUAGE sql STABLE AS $$
    SELECT lower(x.user_email), coalesce(x.region, '') FROM (
        (SELECT s.user_email, s.region, 0 AS o FROM machine_snapshots s
         WHERE s.machine_id = p_machine AND s.taken_at <= p_at
         ORDER BY s.taken_at DESC LIMIT 1)
        UNION ALL
        (SELECT s.user_email, s.region, 1 FROM machine_snapshots s
         WHERE s.machine_id = p_machine AND s.taken_at > p_at
         ORDER BY s.taken_at ASC LIMIT 1)
        UNION ALL
        (SELECT ml.user_email, ml.region, 2 FROM machines_latest ml
         WHERE ml.machine_id = p_machine)
    ) x ORDER BY x.o LIMIT 1
$$;
-- +goose StatementEnd

UPDATE machine_sessions ms SET user_email = o.user_email, region = o.region
FROM machine_sessions m2 CROSS JOIN LATERAL usage_owner_at(m2.machine_id, m2.start_at) o
WHERE m2.id = ms.id;

-- The reports' raw edges and the quarter rollups' rebuild read sessions by
-- start time: the index carries everything they need (index-only scans).
DROP INDEX machine_sessions_start_at;
CREATE INDEX machine_sessions_start_at ON machine_sessions (start_at)
    INCLUDE (machine_id, duration_minutes, user_email, region);

CREATE TABLE usage_machine_day (
    day        timestamptz NOT NULL, -- 00:00 UTC
    machine_id text        NOT NULL,
    user_email text        NOT NULL, -- '' when unassigned
    region     text        NOT NULL,
    sessions   bigint      NOT NULL,
    minutes    bigint      NOT NULL,
    last_used  timestamptz NULL,     -- newest start in the bucket
    PRIMARY KEY (day, machine_id, user_email, region)
);

CREATE TABLE usage_machine_week (
    week       timestamptz NOT NULL, -- Monday 00:00 UTC
    machine_id text        NOT NULL,
    user_email text        NOT NULL,
    region     text        NOT NULL,
    sessions   bigint      NOT NULL,
    minutes    bigint      NOT NULL,
    last_used  timestamptz NULL,
    PRIMARY KEY (week, machine_id, user_email, region)
);

CREATE TABLE usage_region_quarter (
    quarter   timestamptz NOT NULL, -- a multiple of 15 minutes since the epoch
    region    text        NOT NULL,
    sessions  bigint      NOT NULL,
    minutes   bigint      NOT NULL,
    last_used timestamptz NULL,
    PRIMARY KEY (quarter, region)
);

CREATE TABLE usage_user_quarter (
    user_email text        NOT NULL,
    quarter    timestamptz NOT NULL,
    sessions   bigint      NOT NULL,
    minutes    bigint      NOT NULL,
    last_used  timestamptz NULL,
    PRIMARY KEY (user_email, quarter)
);

-- Apply a change of sessions to the rollups: one element per session row
-- that arrived (sign 1) or left (sign -1); moved says which left rows do not
-- come back under the same bucket and start (an update that kept its
-- bucket and start only changes minutes). Sessions and minutes are added;
-- the newest start of a bucket only grows with arrivals, so it is read
-- again from the sessions only for buckets a row moved out of, and a
-- bucket left without sessions is deleted. One transaction applies at a
-- time (an advisory lock held to commit): the sums commute, but a bucket
-- read again must see every committed change.
-- +goose StatementBegin
CREATE FUNCTION usage_rollup_apply(
    p_machine text[], p_start timestamptz[], p_user text[], p_region text[],
    p_sign int[], p_minutes bigint[], p_moved bool[])
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    IF coalesce(array_length(p_machine, 1), 0) = 0 THEN
        RETURN;
    END IF;
    PERFORM pg_advisory_xact_lock(7305813220001);

    INSERT INTO usage_machine_day AS t (day, machine_id, user_email, region, sessions, minutes, last_used)
    SELECT date_trunc('day', c.st, 'UTC'), c.m, c.u, c.r, sum(c.sg), sum(c.sg * c.mi),
        max(c.st) FILTER (WHERE c.sg > 0)
    FROM unnest(p_machine, p_start, p_user, p_region, p_sign, p_minutes) AS c(m, st, u, r, sg, mi)
    GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4
    ON CONFLICT (day, machine_id, user_email, region) DO UPDATE SET
        sessions = t.sessions + excluded.sessions, minutes = t.minutes + excluded.minutes,
        last_used = greatest(t.last_used, excluded.last_used);

    INSERT INTO usage_machine_week AS t (week, machine_id, user_email, region, sessions, minutes, last_used)
    SELECT date_trunc('week', c.st, 'UTC'), c.m, c.u, c.r, sum(c.sg), sum(c.sg * c.mi),
        max(c.st) FILTER (WHERE c.sg > 0)
    FROM unnest(p_machine, p_start, p_user, p_region, p_sign, p_minutes) AS c(m, st, u, r, sg, mi)
    GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4
    ON CONFLICT (week, machine_id, user_email, region) DO UPDATE SET
        sessions = t.sessions + excluded.sessions, minutes = t.minutes + excluded.minutes,
        last_used = greatest(t.last_used, excluded.last_used);

    INSERT INTO usage_region_quarter AS t (quarter, region, sessions, minutes, last_used)
    SELECT date_bin('15 minutes', c.st, timestamptz '1970-01-01 00:00:00+00'), c.r,
        sum(c.sg), sum(c.sg * c.mi), max(c.st) FILTER (WHERE c.sg > 0)
    FROM unnest(p_start, p_region, p_sign, p_minutes) AS c(st, r, sg, mi)
    GROUP BY 1, 2 ORDER BY 1, 2
    ON CONFLICT (quarter, region) DO UPDATE SET
        sessions = t.sessions + excluded.sessions, minutes = t.minutes + excluded.minutes,
        last_used = greatest(t.last_used, excluded.last_used);

    INSERT INTO usage_user_quarter AS t (user_email, quarter, sessions, minutes, last_used)
    SELECT c.u, date_bin('15 minutes', c.st, timestamptz '1970-01-01 00:00:00+00'),
        sum(c.sg), sum(c.sg * c.mi), max(c.st) FILTER (WHERE c.sg > 0)
    FROM unnest(p_start, p_user, p_sign, p_minutes) AS c(st, u, sg, mi)
    GROUP BY 1, 2 ORDER BY 1, 2
    ON CONFLICT (user_email, quarter) DO UPDATE SET
        sessions = t.sessions + excluded.sessions, minutes = t.minutes + excluded.minutes,
        last_used = greatest(t.last_used, excluded.last_used);

    IF NOT (true = ANY(p_moved)) THEN
        RETURN;
    END IF;

    -- Buckets a row moved out of: drop the empty, read the newest start
    -- again of the others.
    DELETE FROM usage_machine_day t USING (SELECT DISTINCT c.m, c.st, c.u, c.r FROM unnest(p_machine, p_start, p_user, p_region, p_moved) AS c(m, st, u, r, mv) WHERE c.mv) k
    WHERE t.day = date_trunc('day', k.st, 'UTC') AND t.machine_id = k.m
        AND t.user_email = k.u AND t.region = k.r AND t.sessions <= 0;
    UPDATE usage_machine_day t SET last_used = (
        SELECT max(s.start_at) FROM machine_sessions s
        WHERE s.machine_id = t.machine_id AND coalesce(s.user_email, '') = t.user_email
            AND s.region = t.region AND s.start_at >= t.day AND s.start_at < t.day + interval '24 hours')
    FROM (SELECT DISTINCT c.m, c.st, c.u, c.r FROM unnest(p_machine, p_start, p_user, p_region, p_moved) AS c(m, st, u, r, mv) WHERE c.mv) k
    WHERE t.day = date_trunc('day', k.st, 'UTC') AND t.machine_id = k.m
        AND t.user_email = k.u AND t.region = k.r;

    DELETE FROM usage_machine_week t USING (SELECT DISTINCT c.m, c.st, c.u, c.r FROM unnest(p_machine, p_start, p_user, p_region, p_moved) AS c(m, st, u, r, mv) WHERE c.mv) k
    WHERE t.week = date_trunc('week', k.st, 'UTC') AND t.machine_id = k.m
        AND t.user_email = k.u AND t.region = k.r AND t.sessions <= 0;
    UPDATE usage_machine_week t SET last_used = (
        SELECT max(s.start_at) FROM machine_sessions s
        WHERE s.machine_id = t.machine_id AND coalesce(s.user_email, '') = t.user_email
            AND s.region = t.region AND s.start_at >= t.week AND s.start_at < t.week + interval '168 hours')
    FROM (SELECT DISTINCT c.m, c.st, c.u, c.r FROM unnest(p_machine, p_start, p_user, p_region, p_moved) AS c(m, st, u, r, mv) WHERE c.mv) k
    WHERE t.week = date_trunc('week', k.st, 'UTC') AND t.machine_id = k.m
        AND t.user_email = k.u AND t.region = k.r;

    DELETE FROM usage_region_quarter t USING (SELECT DISTINCT c.m, c.st, c.u, c.r FROM unnest(p_machine, p_start, p_user, p_region, p_moved) AS c(m, st, u, r, mv) WHERE c.mv) k
    WHERE t.quarter = date_bin('15 minutes', k.st, timestamptz '1970-01-01 00:00:00+00')
        AND t.region = k.r AND t.sessions <= 0;
    UPDATE usage_region_quarter t SET last_used = (
        SELECT max(s.start_at) FROM machine_sessions s
        WHERE s.region = t.region AND s.start_at >= t.quarter AND s.start_at < t.quarter + interval '15 minutes')
    FROM (SELECT DISTINCT c.m, c.st, c.u, c.r FROM unnest(p_machine, p_start, p_user, p_region, p_moved) AS c(m, st, u, r, mv) WHERE c.mv) k
    WHERE t.quarter = date_bin('15 minutes', k.st, timestamptz '1970-01-01 00:00:00+00') AND t.region = k.r;

    DELETE FROM usage_user_quarter t USING (SELECT DISTINCT c.m, c.st, c.u, c.r FROM unnest(p_machine, p_start, p_user, p_region, p_moved) AS c(m, st, u, r, mv) WHERE c.mv) k
    WHERE t.quarter = date_bin('15 minutes', k.st, timestamptz '1970-01-01 00:00:00+00')
        AND t.user_email = k.u AND t.sessions <= 0;
    UPDATE usage_user_quarter t SET last_used = (
        SELECT max(s.start_at) FROM machine_sessions s
        WHERE coalesce(s.user_email, '') = t.user_email
            AND s.start_at >= t.quarter AND s.start_at < t.quarter + interval '15 minutes')
    FROM (SELECT DISTINCT c.m, c.st, c.u, c.r FROM unnest(p_machine, p_start, p_user, p_region, p_moved) AS c(m, st, u, r, mv) WHERE c.mv) k
    WHERE t.quarter = date_bin('15 minutes', k.st, timestamptz '1970-01-01 00:00:00+00') AND t.user_email = k.u;
END
$$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE FUNCTION usage_rollup_on_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM usage_rollup_apply(array_agg(n.machine_id), array_agg(n.start_at),
        array_agg(coalesce(n.user_email, '')), array_agg(n.region),
        array_agg(1), array_agg(n.duration_minutes), array_agg(false))
    FROM new_rows n;
    RETURN NULL;
END
$$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE FUNCTION usage_rollup_on_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM usage_rollup_apply(array_agg(c.machine_id), array_agg(c.start_at),
        array_agg(c.u), array_agg(c.region), array_agg(c.sg), array_agg(c.duration_minutes), array_agg(c.moved))
    FROM (
        SELECT n.machine_id, n.start_at, coalesce(n.user_email, '') AS u, n.region,
            1 AS sg, n.duration_minutes, false AS moved
        FROM new_rows n
        UNION ALL
        SELECT o.machine_id, o.start_at, coalesce(o.user_email, ''), o.region, -1, o.duration_minutes,
            (n.machine_id, n.start_at, coalesce(n.user_email, ''), n.region)
                IS DISTINCT FROM (o.machine_id, o.start_at, coalesce(o.user_email, ''), o.region)
        FROM old_rows o LEFT JOIN new_rows n ON n.id = o.id
    ) c;
    RETURN NULL;
END
$$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE FUNCTION usage_rollup_on_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM usage_rollup_apply(array_agg(o.machine_id), array_agg(o.start_at),
        array_agg(coalesce(o.user_email, '')), array_agg(o.region),
        array_agg(-1), array_agg(o.duration_minutes), array_agg(true))
    FROM old_rows o;
    RETURN NULL;
END
$$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE FUNCTION usage_rollup_on_truncate() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_advisory_xact_lock(7305813220001);
    TRUNCATE usage_machine_day, usage_machine_week, usage_region_quarter, usage_user_quarter;
    RETURN NULL;
END
$$;
-- +goose StatementEnd

-- Recompute every rollup from the sessions.
-- +goose StatementBegin
CREATE FUNCTION usage_rollups_rebuild() RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_advisory_xact_lock(7305813220001);
    TRUNCATE usage_machine_day, usage_machine_week, usage_region_quarter, usage_user_quarter;
    INSERT INTO usage_machine_day (day, machine_id, user_email, region, sessions, minutes, last_used)
    SELECT date_trunc('day', start_at, 'UTC'), machine_id, coalesce(user_email, ''), region,
        count(*), sum(duration_minutes), max(start_at)
    FROM machine_sessions GROUP BY 1, 2, 3, 4;
    INSERT INTO usage_machine_week (week, machine_id, user_email, region, sessions, minutes, last_used)
    SELECT date_trunc('week', day, 'UTC'), machine_id, user_email, region,
        sum(sessions), sum(minutes), max(last_used)
    FROM usage_machine_day GROUP BY 1, 2, 3, 4;
    INSERT INTO usage_region_quarter (quarter, region, sessions, minutes, last_used)
    SELECT date_bin('15 minutes', start_at, timestamptz '1970-01-01 00:00:00+00'), region,
        count(*), sum(duration_minutes), max(start_at)
    FROM machine_sessions GROUP BY 1, 2;
    INSERT INTO usage_user_quarter (user_email, quarter, sessions, minutes, last_used)
    SELECT coalesce(user_email, ''), date_bin('15 minutes', start_at, timestamptz '1970-01-01 00:00:00+00'),
        count(*), sum(duration_minutes), max(start_at)
    FROM machine_sessions GROUP BY 1, 2;
END
$$;
-- +goose StatementEnd

SELECT usage_rollups_rebuild();

CREATE TRIGGER usage_rollup_insert AFTER INSERT ON machine_sessions
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION usage_rollup_on_insert();
CREATE TRIGGER usage_rollup_update AFTER UPDATE ON machine_sessions
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION usage_rollup_on_update();
CREATE TRIGGER usage_rollup_delete AFTER DELETE ON machine_sessions
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION usage_rollup_on_delete();
CREATE TRIGGER usage_rollup_truncate AFTER TRUNCATE ON machine_sessions
    FOR EACH STATEMENT EXECUTE FUNCTION usage_rollup_on_truncate();

-- No Down section: migrations are forward-only.
