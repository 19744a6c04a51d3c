"""Relation-extraction ("relex") settings of a GLiNER checkpoint: which relation layers are read, which refused.

The official ``UniEncoderSpanRelexGLiNER`` / ``UniEncoderTokenRelexGLiNER`` are span or
token-level models whose config sets ``relations_layer``; relation types are prompted
after the entity labels (``<<REL>> type``) and pairs of entity candidates are scored
against them. Kept free of torch imports, like ``settings``.
"""

from dataclasses import dataclass
from typing import Any, Dict, Optional

from .settings import CheckpointError, GLiNERSettings, Rule, check_fields

# relations_layer values that published checkpoints use: 'none' scores every pair of entity
# candidates (knowledgator/gliner-relex-{base,large}-v1.0), 'gcn' keeps the pairs a graph
# convolution over the candidates finds adjacent (knowledgator/gliner-relex-large-v0.5).
RELATION_LAYERS = ("none", "gcn")

_UNPUBLISHED = "an adjacency layer of the official library that no published relex checkpoint uses"
UNSUPPORTED_RELATION_LAYERS = {
    "dot": _UNPUBLISHED + " (a dot product of candidate vectors)",
    "mlp": _UNPUBLISHED + " (an MLP over pairs of candidate vectors)",
    "attention": _UNPUBLISHED + " (multi-head attention weights)",
    "attn": _UNPUBLISHED + " (multi-head attention weights)",
    "bilinear": _UNPUBLISHED + " (a bilinear form)",
    "gat": _UNPUBLISHED + " (a graph attention layer)",
}

# span layers a relex model may have: the official relation head reads span vectors of
# the markerV0 layer ('token_level' models carry one too, for their decoded spans)
RELEX_SPAN_MODES = ("markerV0", "token_level")

# the relex fields of gliner_config.json and what each may hold (as ``settings.RULES``)
RULES = {
    "relations_layer": Rule(str),
    "rel_token": Rule(str),
    "rel_token_index": Rule(int, low=-1),
    "embed_rel_token": Rule(bool),
}

NOT_IN_PIPELINE = (
    "This checkpoint is a relation-extraction GLiNER model (relex), which this call does not read. Use the spaCy"
    ' component (nlp.add_pipe("gliner", config={"model": ..., "labels": [...], "relations": [...]})) or the core API:'
    " spacy_gliner.model.relation_search.predict_relations(checkpoint.load(folder, relations=True), texts, labels,"
    " relations)."
)


@dataclass(frozen=True)
class RelationSettings:
    """The relex fields of ``gliner_config.json`` (names as the official config spells them)."""

    relations_layer: str
    rel_token: str = "<<REL>>"
    rel_token_index: int = -1
    embed_rel_token: bool = True

    @property
    def adjacency(self) -> bool:
        """Pairs are chosen by an adjacency layer (else every ordered pair of candidates is scored)."""
        return self.relations_layer != "none"

    @classmethod
    def of(cls, settings: GLiNERSettings) -> Optional["RelationSettings"]:
        """The relex settings of a checkpoint's settings (their fields live in ``settings.extra``)."""
        return cls.from_official(settings.to_official())

    @classmethod
    def from_official(cls, cfg: Dict[str, Any]) -> Optional["RelationSettings"]:
        """The relex settings of an official config dict; None for a model without relations."""
        layer = cfg.get("relations_layer")
        if layer is None:  # the official library tests `is not None`: '' would be a relex model too
            return None
        check_fields(cfg, rules=RULES)
        supported = ", ".join(map(repr, RELATION_LAYERS))
        # the official RelationsRepLayer lower-cases its mode; only 'none' itself is compared as written
        name = layer if layer == "none" else layer.lower()
        if name in UNSUPPORTED_RELATION_LAYERS:
            raise CheckpointError(
                f"This checkpoint is a relation-extraction GLiNER model with relations_layer={layer!r}, which "
                f"spacy-gliner does not implement: {UNSUPPORTED_RELATION_LAYERS[name]}. Supported: {supported}."
            )
        if name not in RELATION_LAYERS:
            raise CheckpointError(
                f"This checkpoint is a relation-extraction GLiNER model with an unknown relations_layer={layer!r}; "
                f"supported: {supported}."
            )
        if cfg.get("triples_layer") is not None:
            raise CheckpointError(
                f"This checkpoint sets triples_layer={cfg['triples_layer']!r}: knowledge-graph triple scoring of "
                "relations is not implemented (no published relex checkpoint uses it); spacy-gliner reads relex "
                "models that score pairs with their pair projection (triples_layer null)."
            )
        if cfg.get("labels_encoder"):
            raise CheckpointError("A relex GLiNER model with a labels encoder (bi-encoder) is not a published family.")
        span_mode = cfg.get("span_mode", "markerV0")
        if span_mode not in RELEX_SPAN_MODES:
            raise CheckpointError(
                f"A relex GLiNER model with span_mode={span_mode!r} is not implemented: relations are read from "
                f"{' or '.join(map(repr, RELEX_SPAN_MODES))} models (the published relex checkpoints)."
            )
        rel_token, index, embed = (
            cfg.get(key, getattr(cls, key)) for key in ("rel_token", "rel_token_index", "embed_rel_token")
        )
        return cls(name, rel_token, index, embed)
