SELECT source, model, family, params, tokens, flops FROM crossmodel_models WHERE source = ? ORDER BY rowid;
