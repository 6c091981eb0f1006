-- An already registered checkpoint, other than $checkpoint_id, whose weights have this sha256 (the oldest).
SELECT checkpoint_id, path
FROM checkpoints
WHERE weights_sha256 = $weights_sha256 AND checkpoint_id <> $checkpoint_id
ORDER BY recorded_at, checkpoint_id
LIMIT 1;
