-- +goose Up
-- prompts records, per attempt, which role and task prompt versions (and
-- their SHA-256) the step ran with: a JSON array of {kind, name, version,
-- sha256}. Attempts recorded before this migration keep '[]'.
ALTER TABLE step_attempts ADD COLUMN prompts TEXT NOT NULL DEFAULT '[]';

-- +goose Down
ALTER TABLE step_attempts DROP COLUMN prompts;
