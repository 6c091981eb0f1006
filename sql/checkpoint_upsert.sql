-- Columns by name: a database upgraded by ALTER TABLE has them in another order than a new one.
INSERT OR REPLACE INTO checkpoints (
    checkpoint_id, origin, path, params, non_embedding_params, tokens_seen, final_loss, data_version,
    recorded_at, weights_sha256, weight_file_sha256s, run_id, step, run_tokens
)
VALUES (
    $checkpoint_id, $origin, $path, $params, $non_embedding_params, $tokens_seen, $final_loss, $data_version,
    now(), $weights_sha256, $weight_file_sha256s, $run_id, $step, $run_tokens
);
