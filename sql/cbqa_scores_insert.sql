-- `new_scores` is a polars frame registered on the connection by the caller.
INSERT INTO cbqa_scores
SELECT $checkpoint_id, $decoding, idx, rel, template_id, sample, prompt, continuation, correct
FROM new_scores;
