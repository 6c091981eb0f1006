INSERT OR REPLACE INTO checkpoints
VALUES ($checkpoint_id, $origin, $path, $params, $non_embedding_params, $tokens_seen, $final_loss, $data_version, now());
