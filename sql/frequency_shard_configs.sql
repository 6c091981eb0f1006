-- The distinct counting configurations recorded in the per-shard counts in $files; counts
-- made with different match modes, case policies or units must not be summed.
SELECT DISTINCT config FROM read_parquet($files) ORDER BY config;
