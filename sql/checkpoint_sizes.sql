-- Every recorded checkpoint with its size, origin and data version (the weights' hash).
SELECT checkpoint_id, origin, params, data_version
FROM checkpoints
ORDER BY params, checkpoint_id;
