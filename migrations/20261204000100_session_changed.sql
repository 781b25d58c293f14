-- Each shop process keeps the sessions its page views read in memory (shop/src/session_cache.rs).
-- These triggers keep every such copy true: any change a page or a form depends on — a session's
-- token, account or basket, the session ended, a line of its basket added, changed or removed —
-- notifies channel `session_changed` with the session's id hash in hex. The notification is
-- delivered at commit, to every shop process, whichever process (or job, or operator) made the
-- change. `last_seen_at` alone (written at most once a minute) notifies nothing.
--
-- Expand only: two functions and two triggers; no table changes.

CREATE FUNCTION shop.notify_session_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE'
       AND NEW.id_hash = OLD.id_hash
       AND NEW.csrf_token = OLD.csrf_token
       AND NEW.account_id IS NOT DISTINCT FROM OLD.account_id
       AND NEW.basket_id IS NOT DISTINCT FROM OLD.basket_id THEN
        RETURN NULL;
    END IF;
    PERFORM pg_notify('session_changed', encode(OLD.id_hash, 'hex'));
    RETURN NULL;
END
$$;

CREATE TRIGGER sessions_changed
    AFTER UPDATE OR DELETE ON shop.sessions
    FOR EACH ROW EXECUTE FUNCTION shop.notify_session_changed();

CREATE FUNCTION shop.notify_basket_lines_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    changed bigint[];
BEGIN
    IF TG_OP = 'INSERT' THEN
        changed := ARRAY[NEW.basket_id];
    ELSIF TG_OP = 'DELETE' THEN
        changed := ARRAY[OLD.basket_id];
    ELSE
        changed := ARRAY[OLD.basket_id, NEW.basket_id];
    END IF;
    PERFORM pg_notify('session_changed', encode(s.id_hash, 'hex'))
    FROM shop.sessions s
    WHERE s.basket_id = ANY (changed);
    RETURN NULL;
END
$$;

CREATE TRIGGER basket_lines_changed
    AFTER INSERT OR UPDATE OR DELETE ON shop.basket_lines
    FOR EACH ROW EXECUTE FUNCTION shop.notify_basket_lines_changed();
