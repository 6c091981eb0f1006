SELECT * FROM smi_fits WHERE decoding = $decoding ORDER BY params, method;
