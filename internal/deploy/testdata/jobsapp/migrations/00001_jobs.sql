-- +goose Up
CREATE TABLE job_runs (
    id bigserial PRIMARY KEY,
    job text NOT NULL,
    version text NOT NULL,
    marker text NOT NULL,
    host text NOT NULL,
    started timestamptz NOT NULL DEFAULT clock_timestamp(),
    finished timestamptz
);
CREATE TABLE queue (
    id bigint PRIMARY KEY,
    processed_at timestamptz,
    processed_by text,
    times int NOT NULL DEFAULT 0
);
CREATE TABLE attempts (
    item bigint NOT NULL,
    version text NOT NULL,
    at timestamptz NOT NULL DEFAULT clock_timestamp()
);

-- +goose Down
DROP TABLE attempts;
DROP TABLE queue;
DROP TABLE job_runs;
