-- +goose Up
-- llm_calls: the cost ledger, one row per request to an LLM provider.
-- A row is inserted (status started, with the cost reserved for budget
-- checks) before the request is sent and completed when it ends; a
-- completed call keeps the provider's answer (response), so that the
-- attempt it belongs to reuses it after a crash instead of paying again.
-- (execution_id, step_path, attempt, seq) names the call: seq counts the
-- calls of one attempt (a retried request is a new call).
CREATE TABLE llm_calls (
    id                 TEXT PRIMARY KEY,
    execution_id       TEXT NOT NULL REFERENCES executions (id) ON DELETE CASCADE,
    workflow_id        TEXT NOT NULL,
    step_path          TEXT NOT NULL,
    attempt            INTEGER NOT NULL,
    seq                INTEGER NOT NULL,
    provider           TEXT NOT NULL,
    model              TEXT NOT NULL,
    status             TEXT NOT NULL,
    request_hash       TEXT NOT NULL,
    prompts            TEXT NOT NULL DEFAULT '[]',
    input_tokens       BIGINT NOT NULL DEFAULT 0,
    output_tokens      BIGINT NOT NULL DEFAULT 0,
    cache_read_tokens  BIGINT NOT NULL DEFAULT 0,
    cache_write_tokens BIGINT NOT NULL DEFAULT 0,
    cost_usd           DOUBLE PRECISION NOT NULL DEFAULT 0,
    reserved_usd       DOUBLE PRECISION NOT NULL DEFAULT 0,
    priced             BOOLEAN NOT NULL DEFAULT FALSE,
    latency_ms         BIGINT NOT NULL DEFAULT 0,
    error              TEXT NOT NULL DEFAULT '',
    response           TEXT,
    instance_id        TEXT NOT NULL DEFAULT '',
    started_at         TEXT NOT NULL,
    ended_at           TEXT,
    UNIQUE (execution_id, step_path, attempt, seq)
);
CREATE INDEX llm_calls_started ON llm_calls (started_at);
CREATE INDEX llm_calls_workflow ON llm_calls (workflow_id, started_at);

-- +goose Down
DROP TABLE llm_calls;
