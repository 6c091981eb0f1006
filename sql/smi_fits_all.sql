SELECT * FROM smi_fits ORDER BY params, method;
