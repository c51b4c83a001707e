-- +goose Up
-- instance_meta records facts about this database, such as when it was
-- created; later migrations add the domain's tables.
CREATE TABLE instance_meta (
    key        TEXT PRIMARY KEY,
    value      TEXT NOT NULL,
    updated_at TEXT NOT NULL
);

-- +goose Down
DROP TABLE instance_meta;
