SELECT weight_file_sha256s FROM checkpoints WHERE checkpoint_id = $checkpoint_id;
