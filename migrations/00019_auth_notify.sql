-- Issue 13: each replica keeps the signed-in user of a session (and their
-- saved views) in memory between requests. Every change that could alter
-- such an answer is announced on channel dashboard_auth with the user's id
-- as payload ("*" for all), so each replica drops what it holds for that
-- user before its next request; a replica whose listener is down keeps
-- nothing (internal/db/authcache.go). last_seen_at, rewritten once a minute
-- per session, is not announced: it is not part of an answer kept.

-- +goose Up

-- +goose StatementBegin
CREATE FUNCTION dashboard_auth_notify() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    col text := TG_ARGV[0];
    old_id text;
    new_id text;
BEGIN
    IF TG_LEVEL = 'STATEMENT' THEN
        PERFORM pg_notify('dashboard_auth', '*');
        RETURN NULL;
    END IF;
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        old_id := to_jsonb(OLD) ->> col;
        PERFORM pg_notify('dashboard_auth', old_id);
    END IF;
    IF TG_OP IN ('UPDATE', 'INSERT') THEN
        new_id := to_jsonb(NEW) ->> col;
        IF new_id IS DISTINCT FROM old_id THEN
            PERFORM pg_notify('dashboard_auth', new_id);
        END IF;
    END IF;
    RETURN NULL;
END
$$;
-- +goose StatementEnd

CREATE TRIGGER users_auth_notify AFTER UPDATE OR DELETE ON users
    FOR EACH ROW EXECUTE FUNCTION dashboard_auth_notify('id');
CREATE TRIGGER users_auth_notify_truncate AFTER TRUNCATE ON users
    FOR EACH STATEMENT EXECUTE FUNCTION dashboard_auth_notify('id');

CREATE TRIGGER web_sessions_auth_notify
    AFTER UPDATE OF token_hash, user_id, created_at, revoked_at, revoked_reason OR DELETE ON web_sessions
    FOR EACH ROW EXECUTE FUNCTION dashboard_auth_notify('user_id');
CREATE TRIGGER web_sessions_auth_notify_truncate AFTER TRUNCATE ON web_sessions
    FOR EACH STATEMENT EXECUTE FUNCTION dashboard_auth_notify('user_id');

CREATE TRIGGER saved_views_auth_notify AFTER INSERT OR UPDATE OR DELETE ON saved_views
    FOR EACH ROW EXECUTE FUNCTION dashboard_auth_notify('user_id');
CREATE TRIGGER saved_views_auth_notify_truncate AFTER TRUNCATE ON saved_views
    FOR EACH STATEMENT EXECUTE FUNCTION dashboard_auth_notify('user_id');

-- No Down section: migrations are forward-only.
