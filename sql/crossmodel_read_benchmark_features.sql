SELECT source, benchmark, feature, label FROM crossmodel_benchmark_features WHERE source = ? ORDER BY rowid;
