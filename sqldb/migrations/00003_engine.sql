-- +goose Up
-- executions: one run of a workflow for a project. last_seq is the
-- sequence number of the execution's newest event.
CREATE TABLE executions (
    id                TEXT PRIMARY KEY,
    workflow_id       TEXT NOT NULL,
    workflow_revision TEXT NOT NULL,
    project_id        TEXT NOT NULL,
    inputs            TEXT NOT NULL,
    status            TEXT NOT NULL,
    current_step      TEXT,
    pending           TEXT,
    error             TEXT NOT NULL DEFAULT '',
    created_by        TEXT NOT NULL,
    created_at        TEXT NOT NULL,
    updated_at        TEXT NOT NULL,
    started_at        TEXT,
    finished_at       TEXT,
    last_seq          BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX executions_order ON executions (created_at, id);
CREATE INDEX executions_status ON executions (status, created_at);
CREATE INDEX executions_workflow ON executions (workflow_id, created_at);
CREATE INDEX executions_project ON executions (project_id, created_at);

-- step_runs: one step instance (a step at a path through iterations) of
-- an execution, with its gate counters.
CREATE TABLE step_runs (
    id             TEXT PRIMARY KEY,
    execution_id   TEXT NOT NULL REFERENCES executions (id) ON DELETE CASCADE,
    step_path      TEXT NOT NULL,
    step_id        TEXT NOT NULL,
    scope_type     TEXT NOT NULL,
    scope_id       TEXT NOT NULL,
    ref            TEXT NOT NULL,
    status         TEXT NOT NULL,
    attempts       INTEGER NOT NULL DEFAULT 0,
    qa_failures    INTEGER NOT NULL DEFAULT 0,
    rejections     INTEGER NOT NULL DEFAULT 0,
    clarifications INTEGER NOT NULL DEFAULT 0,
    error          TEXT NOT NULL DEFAULT '',
    created_at     TEXT NOT NULL,
    updated_at     TEXT NOT NULL,
    UNIQUE (execution_id, step_path)
);

-- step_attempts: every attempt of a step instance. idempotency_key is
-- (execution, step path, attempt); status moves forward only, so a job
-- delivered twice never applies its result twice.
CREATE TABLE step_attempts (
    id              TEXT PRIMARY KEY,
    step_run_id     TEXT NOT NULL REFERENCES step_runs (id) ON DELETE CASCADE,
    execution_id    TEXT NOT NULL,
    step_path       TEXT NOT NULL,
    attempt         INTEGER NOT NULL,
    idempotency_key TEXT NOT NULL UNIQUE,
    worker          TEXT NOT NULL DEFAULT '',
    status          TEXT NOT NULL,
    feedback        TEXT NOT NULL DEFAULT '{}',
    output          TEXT,
    problems        TEXT,
    document_id     TEXT,
    started_at      TEXT NOT NULL,
    finished_at     TEXT,
    UNIQUE (execution_id, step_path, attempt)
);

-- documents: versions per (project, type, scope); exactly one is_latest
-- per (project, type, scope), flipped in the inserting transaction.
CREATE TABLE documents (
    id                TEXT PRIMARY KEY,
    project_id        TEXT NOT NULL,
    document_type     TEXT NOT NULL,
    scope_type        TEXT NOT NULL,
    scope_id          TEXT NOT NULL,
    version           INTEGER NOT NULL,
    is_latest         BOOLEAN NOT NULL,
    title             TEXT NOT NULL,
    content           TEXT NOT NULL,
    created_by        TEXT NOT NULL,
    execution_id      TEXT NOT NULL,
    step_id           TEXT NOT NULL,
    step_path         TEXT NOT NULL,
    attempt           INTEGER NOT NULL,
    acceptance_status TEXT NOT NULL,
    decided_by        TEXT NOT NULL DEFAULT '',
    decided_at        TEXT,
    decision_comment  TEXT NOT NULL DEFAULT '',
    created_at        TEXT NOT NULL,
    UNIQUE (project_id, document_type, scope_type, scope_id, version)
);
CREATE UNIQUE INDEX documents_one_latest ON documents (project_id, document_type, scope_type, scope_id) WHERE is_latest;
CREATE INDEX documents_execution ON documents (execution_id, created_at);

-- acceptance_decisions: who decided what on which document version.
CREATE TABLE acceptance_decisions (
    id               TEXT PRIMARY KEY,
    execution_id     TEXT NOT NULL REFERENCES executions (id) ON DELETE CASCADE,
    document_id      TEXT NOT NULL REFERENCES documents (id),
    document_version INTEGER NOT NULL,
    step_path        TEXT NOT NULL,
    accepted         BOOLEAN NOT NULL,
    comment          TEXT NOT NULL,
    decided_by       TEXT NOT NULL,
    decided_at       TEXT NOT NULL
);
CREATE INDEX acceptance_decisions_execution ON acceptance_decisions (execution_id, decided_at);

-- clarification_rounds: a question set asked by an attempt and its answers.
CREATE TABLE clarification_rounds (
    id           TEXT PRIMARY KEY,
    execution_id TEXT NOT NULL REFERENCES executions (id) ON DELETE CASCADE,
    step_path    TEXT NOT NULL,
    attempt      INTEGER NOT NULL,
    questions    TEXT NOT NULL,
    answers      TEXT,
    answered_by  TEXT NOT NULL DEFAULT '',
    asked_at     TEXT NOT NULL,
    answered_at  TEXT,
    UNIQUE (execution_id, step_path, attempt)
);

-- execution_events: the durable, gap-free event log of each execution.
CREATE TABLE execution_events (
    execution_id TEXT NOT NULL REFERENCES executions (id) ON DELETE CASCADE,
    seq          BIGINT NOT NULL,
    type         TEXT NOT NULL,
    data         TEXT NOT NULL,
    created_at   TEXT NOT NULL,
    PRIMARY KEY (execution_id, seq)
);

-- +goose Down
DROP TABLE execution_events;
DROP TABLE clarification_rounds;
DROP TABLE acceptance_decisions;
DROP TABLE documents;
DROP TABLE step_attempts;
DROP TABLE step_runs;
DROP TABLE executions;
