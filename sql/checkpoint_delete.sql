-- Everything recorded about one checkpoint: its scores, fits and registration.
DELETE FROM cbqa_scores WHERE checkpoint_id = $checkpoint_id;
DELETE FROM smi_fits WHERE checkpoint_id = $checkpoint_id;
DELETE FROM checkpoints WHERE checkpoint_id = $checkpoint_id;
