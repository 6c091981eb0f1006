DELETE FROM cbqa_scores WHERE checkpoint_id = $checkpoint_id AND decoding = $decoding;
