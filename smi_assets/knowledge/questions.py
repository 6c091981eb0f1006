"""Closed-book QA questions: each triple asked through its relation's cloze templates."""

from __future__ import annotations

import polars as pl

from smi_assets.common.errors import InputError

QUESTION_SCHEMA = {
    "idx": pl.Int64,
    "rel": pl.Utf8,
    "template_id": pl.Int64,
    "prompt": pl.Utf8,
    "answers": pl.List(pl.Utf8),
}


def build_questions(triples: pl.DataFrame, templates: dict[str, list[str]], max_templates: int | None = None) -> pl.DataFrame:
    """One question per triple x template (the first `max_templates` of each relation).

    ``prompt`` is the template with "[S]" replaced by the subject; ``answers`` are the object
    then its aliases; ``template_id`` is the template's 0-based position in its relation's
    list. A relation of the triples without templates, or a template without "[S]", raises
    InputError.
    """
    if max_templates is not None and max_templates < 1:
        raise ValueError(f"max_templates must be at least 1, got {max_templates}")
    missing = sorted(set(triples["rel"].unique().to_list()) - set(templates))
    if missing:
        raise InputError("templates", f"no cloze templates for relation(s) {missing}")
    template_rows = []
    for relation, relation_templates in templates.items():
        for template_id, template in enumerate(relation_templates[:max_templates]):
            if "[S]" not in template:
                raise InputError("templates", f'template {template_id + 1} of relation {relation!r} has no "[S]": {template!r}')
            template_rows.append({"rel": relation, "template_id": template_id, "template": template})
    template_frame = pl.DataFrame(template_rows, schema={"rel": pl.Utf8, "template_id": pl.Int64, "template": pl.Utf8})
    return (
        triples.join(template_frame, on="rel", how="inner")
        .sort("idx", "template_id")
        .select(
            "idx",
            "rel",
            "template_id",
            pl.col("template").str.replace_all("[S]", pl.col("subj"), literal=True).alias("prompt"),
            pl.concat_list(pl.col("obj"), pl.col("obj_aliases")).alias("answers"),
        )
        .cast(QUESTION_SCHEMA)
    )
