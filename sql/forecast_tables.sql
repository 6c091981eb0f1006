-- The forecast and its leave-one-size-out backtest are recomputed whole each time;
-- `new_forecast` and `new_backtest` are polars frames registered by the caller.
CREATE OR REPLACE TABLE cbqa_forecast AS SELECT *, now() AS created_at FROM new_forecast;
CREATE OR REPLACE TABLE forecast_backtest AS SELECT *, now() AS created_at FROM new_backtest;
