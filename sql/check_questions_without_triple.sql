-- Questions whose triple id is not in the triples table.
SELECT q.idx, q.template_id, q.prompt
FROM questions AS q
ANTI JOIN triples AS t ON q.idx = t.idx
ORDER BY q.idx, q.template_id;
