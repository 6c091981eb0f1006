-- Triples whose co-occurrence count exceeds a marginal or whose 2x2 cells do not add up.
SELECT idx, N, N_s, N_o, N_so, N_s_only, N_o_only, N_neither
FROM knowledge_frequency
WHERE N_so > least(N_s, N_o)
   OR N_so + N_s_only + N_o_only + N_neither <> N
   OR least(N_so, N_s_only, N_o_only, N_neither) < 0
ORDER BY idx;
