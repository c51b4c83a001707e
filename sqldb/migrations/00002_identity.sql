-- +goose Up
-- Identity: users, sessions, personal access tokens, one-time sign-in
-- links and the append-only audit log. Secrets are never stored: only
-- their SHA-256 hashes (hex), looked up by unique index.

-- A user is identified by (issuer, provider_id) — the identity provider's
-- issuer and subject — never by email. Provisioned ("local") users use
-- issuer 'local' and their lower-cased email as provider_id.
CREATE TABLE users (
    id            TEXT PRIMARY KEY,
    email         TEXT NOT NULL,
    name          TEXT NOT NULL,
    provider      TEXT NOT NULL,
    issuer        TEXT NOT NULL,
    provider_id   TEXT NOT NULL,
    -- roles is a JSON array of role names, read with the user in one query.
    roles         TEXT NOT NULL DEFAULT '[]',
    disabled      BOOLEAN NOT NULL DEFAULT FALSE,
    created_at    TEXT NOT NULL,
    updated_at    TEXT NOT NULL,
    last_login_at TEXT,
    UNIQUE (issuer, provider_id)
);
CREATE INDEX users_email ON users (email);

CREATE TABLE sessions (
    id           TEXT PRIMARY KEY,
    user_id      TEXT NOT NULL REFERENCES users (id),
    secret_hash  TEXT NOT NULL UNIQUE,
    created_at   TEXT NOT NULL,
    last_seen_at TEXT NOT NULL,
    expires_at   TEXT NOT NULL,
    revoked_at   TEXT,
    client_addr  TEXT NOT NULL DEFAULT '',
    user_agent   TEXT NOT NULL DEFAULT ''
);
CREATE INDEX sessions_user ON sessions (user_id);

CREATE TABLE tokens (
    id           TEXT PRIMARY KEY,
    user_id      TEXT NOT NULL REFERENCES users (id),
    name         TEXT NOT NULL,
    token_hash   TEXT NOT NULL UNIQUE,
    display      TEXT NOT NULL,
    -- scopes is a JSON array of permissions; [] means all of the owner's.
    scopes       TEXT NOT NULL DEFAULT '[]',
    created_at   TEXT NOT NULL,
    expires_at   TEXT,
    last_used_at TEXT,
    revoked_at   TEXT
);
CREATE INDEX tokens_user ON tokens (user_id);

CREATE TABLE login_links (
    id          TEXT PRIMARY KEY,
    secret_hash TEXT NOT NULL UNIQUE,
    purpose     TEXT NOT NULL CHECK (purpose IN ('login', 'setup')),
    user_id     TEXT REFERENCES users (id),
    created_at  TEXT NOT NULL,
    expires_at  TEXT NOT NULL,
    used_at     TEXT
);

-- audit_log is append-only: the application never updates or deletes it.
-- Ids are time-ordered, so id order is time order (newest first = id DESC).
CREATE TABLE audit_log (
    id          TEXT PRIMARY KEY,
    at          TEXT NOT NULL,
    actor_id    TEXT NOT NULL DEFAULT '',
    actor       TEXT NOT NULL DEFAULT '',
    action      TEXT NOT NULL,
    target      TEXT NOT NULL DEFAULT '',
    outcome     TEXT NOT NULL,
    reason      TEXT NOT NULL DEFAULT '',
    client_addr TEXT NOT NULL DEFAULT '',
    request_id  TEXT NOT NULL DEFAULT '',
    details     TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_log_action ON audit_log (action, id);
CREATE INDEX audit_log_actor ON audit_log (actor_id, id);

-- +goose Down
DROP TABLE audit_log;
DROP TABLE login_links;
DROP TABLE tokens;
DROP TABLE sessions;
DROP TABLE users;
