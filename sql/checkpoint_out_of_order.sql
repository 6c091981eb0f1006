-- Another checkpoint of run $run_id whose tokens disagree with its step: an earlier step with more
-- tokens than $tokens_seen at step $step, or a later step with fewer (the one nearest in step).
SELECT checkpoint_id, step, tokens_seen
FROM checkpoints
WHERE run_id = $run_id AND checkpoint_id <> $checkpoint_id
  AND ((step < $step AND tokens_seen > $tokens_seen) OR (step > $step AND tokens_seen < $tokens_seen))
ORDER BY abs(step - $step), checkpoint_id
LIMIT 1;
