-- Backtests of stored forecasts against checkpoints scored after them, kept per
-- (forecast_id, checkpoint_id, checkpoint_version); the calibration plot's bins beside them.
CREATE TABLE IF NOT EXISTS forecast_backtest_results (
    forecast_id VARCHAR NOT NULL,
    checkpoint_id VARCHAR NOT NULL,
    checkpoint_version VARCHAR NOT NULL,
    planned_params DOUBLE NOT NULL,
    checkpoint_params DOUBLE NOT NULL,
    n_questions BIGINT NOT NULL,
    mean_predicted DOUBLE,
    mean_actual DOUBLE,
    mean_error DOUBLE,
    abs_error DOUBLE,
    relation_mae DOUBLE,
    r2_question DOUBLE,
    brier DOUBLE,
    auc DOUBLE,
    created_at TIMESTAMP NOT NULL,
    PRIMARY KEY (forecast_id, checkpoint_id, checkpoint_version)
);
-- Added with forecasts in (params, tokens): a database made before keeps its rows (NULL here).
ALTER TABLE forecast_backtest_results ADD COLUMN IF NOT EXISTS target VARCHAR;
ALTER TABLE forecast_backtest_results ADD COLUMN IF NOT EXISTS planned_tokens DOUBLE;
ALTER TABLE forecast_backtest_results ADD COLUMN IF NOT EXISTS checkpoint_tokens DOUBLE;
ALTER TABLE forecast_backtest_results ADD COLUMN IF NOT EXISTS run_id VARCHAR;
ALTER TABLE forecast_backtest_results ADD COLUMN IF NOT EXISTS run_fraction_seen DOUBLE;
ALTER TABLE forecast_backtest_results ADD COLUMN IF NOT EXISTS mean_low DOUBLE;
ALTER TABLE forecast_backtest_results ADD COLUMN IF NOT EXISTS mean_high DOUBLE;
ALTER TABLE forecast_backtest_results ADD COLUMN IF NOT EXISTS inside_interval BOOLEAN;
CREATE TABLE IF NOT EXISTS forecast_backtest_calibration (
    forecast_id VARCHAR NOT NULL,
    checkpoint_id VARCHAR NOT NULL,
    checkpoint_version VARCHAR NOT NULL,
    bin INTEGER NOT NULL,
    bin_low DOUBLE NOT NULL,
    bin_high DOUBLE NOT NULL,
    n_questions BIGINT NOT NULL,
    mean_predicted DOUBLE,
    mean_actual DOUBLE,
    PRIMARY KEY (forecast_id, checkpoint_id, checkpoint_version, bin)
);
