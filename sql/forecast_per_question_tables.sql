-- Forecasts, kept: one forecast per forecast_id (a hash of the data versions of the checkpoints
-- and inputs it came from), each of several targets (planned runs, planned configs, the final
-- checkpoint of a run in progress). Rows are inserted once and never overwritten.
CREATE TABLE IF NOT EXISTS forecast_runs (
    forecast_id VARCHAR PRIMARY KEY,
    lineage JSON NOT NULL,
    created_at TIMESTAMP NOT NULL
);
CREATE TABLE IF NOT EXISTS forecast_targets (
    forecast_id VARCHAR NOT NULL,
    target VARCHAR NOT NULL,
    planned_params DOUBLE NOT NULL,
    planned_tokens DOUBLE,           -- NULL: no token counts to resolve the ladder's ratio with
    run_id VARCHAR,                  -- set: the final checkpoint of this run, forecast during it
    run_fraction_seen DOUBLE,        -- of that run's planned tokens, by its latest scored checkpoint
    proxies VARCHAR NOT NULL,        -- the scored checkpoints the forecast used, comma-separated
    largest_proxy_params DOUBLE,
    reach DOUBLE,                    -- log2 of the target's compute over its starting checkpoint's
    PRIMARY KEY (forecast_id, target)
);
CREATE TABLE IF NOT EXISTS forecast_questions (
    forecast_id VARCHAR NOT NULL,
    target VARCHAR NOT NULL,
    idx BIGINT NOT NULL,
    rel VARCHAR NOT NULL,
    predicted_accuracy DOUBLE NOT NULL,
    acc_low DOUBLE,                  -- the 80% interval of the question's expected accuracy
    acc_high DOUBLE,
    N BIGINT,
    N_s BIGINT,
    N_o BIGINT,
    N_so BIGINT,
    PRIMARY KEY (forecast_id, target, idx)
);
CREATE TABLE IF NOT EXISTS forecast_summary (
    forecast_id VARCHAR NOT NULL,
    target VARCHAR NOT NULL,
    rel VARCHAR NOT NULL,            -- '*': all questions
    predicted_accuracy DOUBLE NOT NULL,
    acc_low DOUBLE,                  -- the 80% interval of the mean
    acc_high DOUBLE,
    n_questions BIGINT NOT NULL,
    PRIMARY KEY (forecast_id, target, rel)
);
