-- The latest forecast's aggregates and the counts model's leave-one-size-out check are
-- recomputed whole each time (the per-question forecasts themselves are kept, see
-- forecast_per_question_tables.sql); `new_forecast` and `new_backtest` are polars frames
-- registered by the caller.
CREATE OR REPLACE TABLE cbqa_forecast AS SELECT *, now() AS created_at FROM new_forecast;
CREATE OR REPLACE TABLE forecast_leave_one_size_out AS SELECT *, now() AS created_at FROM new_backtest;
