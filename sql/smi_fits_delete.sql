DELETE FROM smi_fits WHERE checkpoint_id = $checkpoint_id AND decoding IS NOT DISTINCT FROM $decoding;
