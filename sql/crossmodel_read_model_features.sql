SELECT source, model, feature, value, label FROM crossmodel_model_features WHERE source = ? ORDER BY rowid;
