-- Knowledge frequency per triple: the 2x2 table of units by subject/object presence, summed
-- over the per-shard counts in $files. The caller registers the triples (idx, subj, obj) as
-- `frequency_triples`. An entity or triple absent from a shard's counts occurs in none of
-- its units.
WITH counts AS (
    SELECT kind, entity, idx, n_units FROM read_parquet($files)
),
total AS (
    SELECT coalesce(sum(n_units), 0)::BIGINT AS N FROM counts WHERE kind = 'units'
),
entities AS (
    SELECT entity, sum(n_units)::BIGINT AS n_units FROM counts WHERE kind = 'entity' GROUP BY entity
),
pairs AS (
    SELECT idx, sum(n_units)::BIGINT AS n_units FROM counts WHERE kind = 'pair' GROUP BY idx
),
cells AS (
    SELECT
        t.idx::BIGINT AS idx,
        total.N,
        coalesce(s.n_units, 0)::BIGINT AS N_s,
        coalesce(o.n_units, 0)::BIGINT AS N_o,
        coalesce(p.n_units, 0)::BIGINT AS N_so
    FROM frequency_triples AS t
    CROSS JOIN total
    LEFT JOIN entities AS s ON s.entity = t.subj
    LEFT JOIN entities AS o ON o.entity = t.obj
    LEFT JOIN pairs AS p ON p.idx = t.idx
)
SELECT
    idx, N, N_s, N_o, N_so,
    N_s - N_so AS N_s_only,
    N_o - N_so AS N_o_only,
    N - N_s - N_o + N_so AS N_neither
FROM cells
ORDER BY idx;
