"""GLiNER model settings: the fields of an official ``gliner_config.json`` that we use.

Kept free of torch imports so that configs can be validated cheaply.
"""
from dataclasses import asdict, dataclass, field
from typing import Any, Dict, Optional

SPAN_MODES = ("markerV0", "marker")
# words_splitter_type values of the official library (gliner/data_processing/tokenizer.py)
WORD_SPLITTERS = ("whitespace", "spacy", "jieba", "janome", "mecab", "hanlp", "camel", "hindi", "stanza", "universal")

# Fields that, when set, mean another GLiNER family that this package does not implement.
_OTHER_FAMILY_FIELDS = {
    "labels_encoder": "bi-encoder",
    "labels_decoder": "label-decoder",
    "relations_layer": "relation-extraction",
    "post_fusion_schema": "fused post-encoder",
}


class CheckpointError(ValueError):
    """A checkpoint folder or config that spacy-gliner cannot load, with the reason."""


@dataclass
class GLiNERSettings:
    """Architecture settings of a GLiNER span model (names as in ``gliner_config.json``)."""

    model_name: str = "microsoft/deberta-v3-small"
    encoder_config: Optional[Dict[str, Any]] = None
    hidden_size: int = 512
    max_width: int = 12
    max_len: int = 384
    dropout: float = 0.4
    span_mode: str = "markerV0"
    num_rnn_layers: int = 1
    ent_token: str = "<<ENT>>"
    sep_token: str = "<<SEP>>"
    embed_ent_token: bool = True
    words_splitter_type: str = "whitespace"
    subtoken_pooling: str = "first"
    class_token_index: int = -1
    vocab_size: int = -1
    extra: Dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_official(cls, cfg: Dict[str, Any]) -> "GLiNERSettings":
        """Read an official config dict, rejecting families and options we do not implement."""
        if not isinstance(cfg, dict):
            raise CheckpointError(f"gliner_config.json must hold a JSON object, not {type(cfg).__name__}.")
        for key, family in _OTHER_FAMILY_FIELDS.items():
            if cfg.get(key):
                raise CheckpointError(
                    f"This checkpoint is a {family} GLiNER model ({key}={cfg[key]!r}); spacy-gliner "
                    "implements the uni-encoder span model (span_mode 'markerV0' or 'marker') only."
                )
        span_mode = cfg.get("span_mode", "markerV0")
        if span_mode not in SPAN_MODES:
            family = "token-level" if span_mode == "token_level" else f"span_mode={span_mode!r}"
            raise CheckpointError(
                f"This checkpoint is a {family} GLiNER model; spacy-gliner supports span_mode "
                f"{' or '.join(map(repr, SPAN_MODES))} (GLiNER v0, v1, v2, v2.1 and their fine-tunes)."
            )
        model_type = cfg.get("model_type")
        if model_type not in (None, "", "gliner", "gliner_uni_encoder_span"):
            raise CheckpointError(f"Unsupported GLiNER model_type {model_type!r}: only the uni-encoder span model is supported.")
        pooling = cfg.get("subtoken_pooling", "first") or "first"
        if pooling != "first":
            raise CheckpointError(f"subtoken_pooling={pooling!r} is not supported; only 'first' (the official default).")
        splitter = cfg.get("words_splitter_type", "whitespace") or "whitespace"
        if splitter not in WORD_SPLITTERS:
            raise CheckpointError(
                f"words_splitter_type={splitter!r} is not a word splitter of the official library; "
                f"known: {', '.join(WORD_SPLITTERS)}."
            )
        cfg = {**cfg, "words_splitter_type": splitter}
        known = {f for f in cls.__dataclass_fields__ if f != "extra"}
        values = {k: cfg[k] for k in known if k in cfg and cfg[k] is not None}
        values["extra"] = {k: v for k, v in cfg.items() if k not in known}
        settings = cls(**values)
        settings.validate()
        return settings

    def validate(self) -> None:
        if self.hidden_size <= 0 or self.hidden_size % 2:
            raise CheckpointError(f"hidden_size must be a positive even number, got {self.hidden_size}.")
        if self.max_width < 1:
            raise CheckpointError(f"max_width must be at least 1, got {self.max_width}.")
        if self.max_len < 1:
            raise CheckpointError(f"max_len must be at least 1, got {self.max_len}.")
        if self.num_rnn_layers < 0:
            raise CheckpointError(f"num_rnn_layers must be >= 0, got {self.num_rnn_layers}.")

    def to_official(self) -> Dict[str, Any]:
        """The config dict in the official layout (unknown fields are written back unchanged)."""
        out = dict(self.extra)
        out.update({k: v for k, v in asdict(self).items() if k != "extra"})
        out.setdefault("words_splitter_type", "whitespace")
        return out
