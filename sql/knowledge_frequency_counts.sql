-- The counts a forecast may use: pre-training information only.
SELECT idx, rel, N, N_s, N_o, N_so FROM knowledge_frequency ORDER BY idx;
