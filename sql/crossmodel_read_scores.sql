SELECT source, model, benchmark, score FROM crossmodel_scores WHERE source = ? ORDER BY rowid;
