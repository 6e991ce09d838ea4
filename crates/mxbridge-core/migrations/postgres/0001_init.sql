-- mxbridge schema, PostgreSQL dialect. Keep in step with ../sqlite/0001_init.sql: the same
-- tables and columns, only the types differ. Booleans are 0/1 BIGINTs, so the sqlx Any
-- driver reads them the same way on both backends; timestamps are milliseconds since the
-- Unix epoch, JSON is TEXT, encrypted secrets are BYTEA.

-- Appservice transaction ids already accepted (bounded dedupe window, pruned by age).
CREATE TABLE appservice_txn (
    txn_id      TEXT    NOT NULL PRIMARY KEY,
    received_ms BIGINT  NOT NULL
);
CREATE INDEX appservice_txn_received ON appservice_txn (received_ms);

-- Events accepted from the homeserver and not yet handled, oldest first.
CREATE TABLE inbox (
    seq     BIGINT  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    txn_id  TEXT    NOT NULL,
    payload TEXT    NOT NULL
);

-- One remote chat <-> one Matrix room. receiver is '' for chats shared by all users.
CREATE TABLE portal (
    remote_id   TEXT    NOT NULL,
    receiver    TEXT    NOT NULL,
    room_id     TEXT    UNIQUE,
    name        TEXT,
    topic       TEXT,
    avatar_url  TEXT,
    kind        TEXT    NOT NULL,
    plumbed     BIGINT  NOT NULL DEFAULT 0,
    relay_login TEXT,
    created_ms  BIGINT  NOT NULL,
    PRIMARY KEY (remote_id, receiver)
);

-- Remote users shown as Matrix users.
CREATE TABLE ghost (
    remote_id    TEXT    NOT NULL PRIMARY KEY,
    user_id      TEXT    NOT NULL UNIQUE,
    display_name TEXT,
    avatar_url   TEXT,
    registered   BIGINT  NOT NULL DEFAULT 0
);

-- Remote message (part) <-> Matrix event.
CREATE TABLE message (
    portal_remote_id TEXT    NOT NULL,
    receiver         TEXT    NOT NULL,
    remote_id        TEXT    NOT NULL,
    part_id          TEXT    NOT NULL,
    event_id         TEXT    NOT NULL UNIQUE,
    room_id          TEXT    NOT NULL,
    sender           TEXT    NOT NULL,
    timestamp_ms     BIGINT  NOT NULL,
    PRIMARY KEY (portal_remote_id, receiver, remote_id, part_id),
    FOREIGN KEY (portal_remote_id, receiver) REFERENCES portal (remote_id, receiver) ON DELETE CASCADE
);

-- One reaction (sender, key) on one remote message.
CREATE TABLE reaction (
    portal_remote_id TEXT NOT NULL,
    receiver         TEXT NOT NULL,
    target_remote_id TEXT NOT NULL,
    sender           TEXT NOT NULL,
    key              TEXT NOT NULL,
    event_id         TEXT NOT NULL UNIQUE,
    room_id          TEXT NOT NULL,
    PRIMARY KEY (portal_remote_id, receiver, target_remote_id, sender, key),
    FOREIGN KEY (portal_remote_id, receiver) REFERENCES portal (remote_id, receiver) ON DELETE CASCADE
);

-- One remote account of one Matrix user. secret is ciphertext (see secret.rs).
CREATE TABLE user_login (
    login_id    TEXT NOT NULL PRIMARY KEY,
    user_id     TEXT NOT NULL,
    remote_name TEXT NOT NULL,
    metadata    TEXT NOT NULL,
    secret      BYTEA NOT NULL
);
CREATE INDEX user_login_user ON user_login (user_id);

-- The DM between a user and the bridge bot.
CREATE TABLE management_room (
    user_id TEXT NOT NULL PRIMARY KEY,
    room_id TEXT NOT NULL UNIQUE
);

-- Per-login session state; value is ciphertext. No foreign key: a network may write state
-- while a login is still in progress, before its user_login row exists.
CREATE TABLE login_kv (
    login_id TEXT NOT NULL,
    key      TEXT NOT NULL,
    value    BYTEA NOT NULL,
    PRIMARY KEY (login_id, key)
);
