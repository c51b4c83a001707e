-- +goose Up
-- Engine v2: an execution is a set of open work items (the items of an
-- iteration run side by side), every action names the one it is for, an
-- execution reads only its own documents, and a failed execution can be
-- retried.

-- executions.pending now holds every open work item as a JSON array
-- (rebuilt from the step runs by the engine); the single current step
-- is gone. Rows written by the previous engine are rebuilt at start.
ALTER TABLE executions DROP COLUMN current_step;
UPDATE executions SET pending = NULL;
ALTER TABLE executions ADD COLUMN retries INTEGER NOT NULL DEFAULT 0;
ALTER TABLE executions ADD COLUMN failed_step TEXT NOT NULL DEFAULT '';

-- ord orders an execution's step runs as they were opened.
ALTER TABLE step_runs ADD COLUMN ord INTEGER NOT NULL DEFAULT 0;

-- inputs records exactly which document versions an attempt read.
ALTER TABLE step_attempts ADD COLUMN inputs TEXT NOT NULL DEFAULT '[]';

-- A decision names the attempt it was for and, when the reviewer
-- accepted a corrected version, that version.
ALTER TABLE acceptance_decisions ADD COLUMN attempt INTEGER NOT NULL DEFAULT 0;
ALTER TABLE acceptance_decisions ADD COLUMN accepted_document_id TEXT;
ALTER TABLE acceptance_decisions ADD COLUMN accepted_version INTEGER;

-- An execution reads its own latest accepted version of each input.
CREATE INDEX documents_execution_scope ON documents (execution_id, document_type, scope_type, scope_id, version);

-- +goose Down
DROP INDEX documents_execution_scope;
ALTER TABLE acceptance_decisions DROP COLUMN accepted_version;
ALTER TABLE acceptance_decisions DROP COLUMN accepted_document_id;
ALTER TABLE acceptance_decisions DROP COLUMN attempt;
ALTER TABLE step_attempts DROP COLUMN inputs;
ALTER TABLE step_runs DROP COLUMN ord;
ALTER TABLE executions DROP COLUMN failed_step;
ALTER TABLE executions DROP COLUMN retries;
ALTER TABLE executions ADD COLUMN current_step TEXT;
