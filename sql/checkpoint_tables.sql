-- Tables of the checkpoint domain. Rows are replaced per checkpoint (and decoding), never
-- appended twice, so every statement that fills them deletes the old rows first.
CREATE TABLE IF NOT EXISTS checkpoints (
    checkpoint_id VARCHAR PRIMARY KEY,
    origin VARCHAR,                 -- 'trained' (the project's ladder) or 'registered' (dropped in)
    path VARCHAR,
    params BIGINT,
    non_embedding_params BIGINT,
    tokens_seen BIGINT,
    final_loss DOUBLE,
    data_version VARCHAR,
    recorded_at TIMESTAMP
);
-- Added after the first release: ALTER ... IF NOT EXISTS upgrades an existing database in
-- place (old rows keep NULL) and is a no-op afterwards.
ALTER TABLE checkpoints ADD COLUMN IF NOT EXISTS weights_sha256 VARCHAR;       -- training.weights.weights_sha256
ALTER TABLE checkpoints ADD COLUMN IF NOT EXISTS weight_file_sha256s VARCHAR;  -- JSON object: file name -> sha256
-- Where the checkpoint sits in its training run (smi_assets.checkpoints.runs); tokens_seen above
-- is the tokens it was trained on. NULL: unknown (a dropped folder without a sidecar).
ALTER TABLE checkpoints ADD COLUMN IF NOT EXISTS run_id VARCHAR;      -- a ladder run's name, a sidecar's run_id or the folder name
ALTER TABLE checkpoints ADD COLUMN IF NOT EXISTS step BIGINT;         -- optimizer step within the run
ALTER TABLE checkpoints ADD COLUMN IF NOT EXISTS run_tokens BIGINT;   -- tokens the whole run plans to see
CREATE TABLE IF NOT EXISTS cbqa_scores (
    checkpoint_id VARCHAR,
    decoding VARCHAR,
    idx BIGINT,
    rel VARCHAR,
    template_id BIGINT,
    sample BIGINT,
    prompt VARCHAR,
    continuation VARCHAR,
    correct BOOLEAN
);
CREATE TABLE IF NOT EXISTS smi_fits (
    checkpoint_id VARCHAR,
    params BIGINT,
    method VARCHAR,
    slope DOUBLE,
    intercept DOUBLE,
    r2 DOUBLE,
    mse DOUBLE,
    upper_bound DOUBLE,
    acc DOUBLE,
    n_groups BIGINT,
    n_questions BIGINT,
    r2_question DOUBLE,
    x_intercept DOUBLE,
    weighted_slope DOUBLE,
    weighted_intercept DOUBLE,
    weighted_r2_question DOUBLE
);
-- Fits are per decoding: greedy and sampled accuracies are different targets. (A database made
-- before this column gets it, its rows labelled NULL until the checkpoint is refitted.)
ALTER TABLE smi_fits ADD COLUMN IF NOT EXISTS decoding VARCHAR;
CREATE OR REPLACE VIEW cbqa_checkpoint_accuracy AS
SELECT checkpoint_id, decoding, avg(correct::DOUBLE) AS mean_accuracy, count(*) AS n_generations
FROM cbqa_scores
GROUP BY ALL;
