-- Each replica keeps refusals too (internal/db/authcache.go): a session
-- token found in no row is answered "unknown" from memory, so a replayed
-- cookie of a session gone costs no query. A row given such a token later
-- (a session started, on any replica) must reach every replica: 00019
-- announces updates and deletes by user id, which names no token; this
-- announces each statement inserting sessions, or changing a token, as
-- 'new-token', on which a replica forgets every token it kept as unknown.

-- +goose Up

-- +goose StatementBegin
CREATE FUNCTION dashboard_auth_notify_new_token() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('dashboard_auth', 'new-token');
    RETURN NULL;
END
$$;
-- +goose StatementEnd

CREATE TRIGGER web_sessions_auth_notify_new_token
    AFTER INSERT OR UPDATE OF token_hash ON web_sessions
    FOR EACH STATEMENT EXECUTE FUNCTION dashboard_auth_notify_new_token();

-- No Down section: migrations are forward-only.
