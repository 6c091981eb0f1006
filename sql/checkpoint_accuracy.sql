-- Mean CBQA accuracy per checkpoint and decoding, with the checkpoint's size and where it sits
-- in its run.
SELECT c.checkpoint_id, c.params, c.non_embedding_params, c.tokens_seen, c.run_id, c.step, c.run_tokens, c.path,
       a.decoding, a.mean_accuracy, a.n_generations
FROM checkpoints AS c
JOIN cbqa_checkpoint_accuracy AS a USING (checkpoint_id)
ORDER BY c.params, c.run_id, c.step, a.decoding;
