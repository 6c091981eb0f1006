-- What each triple says, for reports a person reads.
SELECT idx, subj, obj FROM triples ORDER BY idx;
