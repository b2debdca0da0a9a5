-- Version 7: administration. Accounts an operator disabled (`emotechat user disable`), when
-- each account was last seen (for `emotechat user list`), and invite codes for
-- `--registration invite`.

ALTER TABLE users ADD COLUMN disabled_at INTEGER;
ALTER TABLE users ADD COLUMN last_seen_at INTEGER;
-- the disabled accounts, which the server looks at every second to close their streams
CREATE INDEX users_disabled ON users(disabled_at) WHERE disabled_at IS NOT NULL;

CREATE TABLE invites (
    id         INTEGER PRIMARY KEY,
    -- SHA-256 of the code; the code itself is shown once, when it is made, and never stored
    code_hash  BLOB    NOT NULL UNIQUE,
    -- the code's first characters, so that an operator can tell codes apart in a list
    prefix     TEXT    NOT NULL,
    max_uses   INTEGER NOT NULL,
    -- counted in the write that creates the account, so uses never pass max_uses
    uses       INTEGER NOT NULL DEFAULT 0 CHECK (uses <= max_uses),
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
);
