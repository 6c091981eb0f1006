-- Per-question forecasts, kept: one run per forecast_id (a hash of the data versions of the
-- proxies and inputs it came from), rows keyed by (forecast_id, planned_params, idx).
CREATE TABLE IF NOT EXISTS forecast_runs (
    forecast_id VARCHAR PRIMARY KEY,
    lineage JSON NOT NULL,
    created_at TIMESTAMP NOT NULL
);
CREATE TABLE IF NOT EXISTS forecast_per_question (
    forecast_id VARCHAR NOT NULL,
    planned_params DOUBLE NOT NULL,
    idx BIGINT NOT NULL,
    rel VARCHAR NOT NULL,
    predicted_accuracy DOUBLE NOT NULL,
    proxies VARCHAR NOT NULL,
    largest_proxy_params DOUBLE,
    N BIGINT,
    N_s BIGINT,
    N_o BIGINT,
    N_so BIGINT,
    PRIMARY KEY (forecast_id, planned_params, idx)
);
