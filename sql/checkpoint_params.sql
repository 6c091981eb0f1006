SELECT params FROM checkpoints WHERE checkpoint_id = $checkpoint_id;
