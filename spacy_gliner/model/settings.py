"""GLiNER model settings: the fields of an official ``gliner_config.json`` that we use.

Kept free of torch imports so that configs can be validated cheaply.
"""

import math
from dataclasses import asdict, dataclass, field
from typing import Any, Dict, Optional

SPAN_HEADS = ("markerV0", "marker")  # span layers of the span models (published: v0 'marker', v1-v2.1 'markerV0')
TOKEN_LEVEL = "token_level"  # per-word start/end/inside scores (NuNER Zero, GLiNER multitask)
SPAN_MODES = SPAN_HEADS + (TOKEN_LEVEL,)
# words_splitter_type values of the official library (gliner/data_processing/tokenizer.py)
WORD_SPLITTERS = ("whitespace", "spacy", "jieba", "janome", "mecab", "hanlp", "camel", "hindi", "stanza", "universal")

# Fields that, when set, mean another GLiNER family that this package does not implement.
_OTHER_FAMILY_FIELDS = {
    "labels_decoder": "label-decoder",
}

# Span layers of the official SpanRepLayer that are refused, and why. No published
# checkpoint uses them (the Hub's GLiNER models are 'markerV0', 'marker' or 'token_level'),
# so there is nothing to check an implementation against but the official code itself.
UNSUPPORTED_SPAN_MODES = {
    "markerV1": "an experimental layer (start/end markers with a width embedding) that no published checkpoint uses",
    "markerV2": "the layer of the official streaming decoder models (gliner_streaming_span), another family",
    "query": "an experimental layer (learned per-width queries) that no published checkpoint uses",
    "mlp": "an experimental layer (one MLP per width) that no published checkpoint uses",
    "cat": "an experimental layer (concatenated width embedding) that no published checkpoint uses",
    "conv_conv": "an experimental convolutional layer that no published checkpoint uses",
    "conv_max": "an experimental convolutional layer that no published checkpoint uses",
    "conv_mean": "an experimental convolutional layer that no published checkpoint uses",
    "conv_sum": "an experimental convolutional layer that no published checkpoint uses",
    "conv_share": "an experimental convolutional layer that no published checkpoint uses",
}

# Options that change the network, refused by name with the reason.
_UNSUPPORTED_OPTIONS = {
    "post_fusion_schema": (
        "post-fusion layers (cross-attention between words and labels) are not implemented; in the official "
        "uni-encoder models they are built but never applied"
    ),
    "fuse_layers": "fusing the encoder's layers (LayersFuser) is not implemented",
    "span_encoder_config": "a context encoder before the span layer is not implemented",
    "represent_spans": "token-level models with a span classifier on top (represent_spans) are not implemented",
    "precomputed_prompts_mode": "checkpoints with compressed, precomputed label prompts are not supported",
}


# model_type values the official library writes for the families implemented here (its
# GLiNERConfig writes "gliner_uni_encoder_span" for token-level models too: it tests
# span_mode against "token-level"; the class is chosen from span_mode and labels_encoder).
_MODEL_TYPES = (
    None,
    "",
    "gliner",
    "gliner_uni_encoder_span",
    "gliner_uni_encoder_token",
    "gliner_bi_encoder",
    "gliner_bi_encoder_span",
    "gliner_bi_encoder_token",
    "gliner_uni_encoder_span_relex",  # relation extraction: relations_layer is read by relation_settings
    "gliner_uni_encoder_token_relex",
)


class CheckpointError(ValueError):
    """A checkpoint folder or config that spacy-gliner cannot load, with the reason."""


# Bounds of the settings that no tensor of the weights can check (the weights check the others,
# see ``checkpoint.check_sizes``). Published checkpoints use max_width 12 and max_len 384-2048.
MAX_WIDTH = 128  # the span scores grow with it: [windows, words, max_width, labels]
MAX_LEN = 65_536  # words per window; the encoder's sub-token limit (at most 512) cuts windows first


@dataclass(frozen=True)
class Rule:
    """What one setting may hold: a JSON type, and a range for numbers."""

    kind: type  # int, float, bool, str or dict
    low: Optional[float] = None  # smallest number allowed
    high: Optional[float] = None  # largest number allowed (inclusive), or below it for floats
    even: bool = False
    optional: bool = False  # null (or an empty string) allowed: the default is used
    closed: bool = False  # floats: ``high`` itself allowed too

    def allows(self, value: Any) -> bool:
        if value is None:
            return self.optional
        if self.kind is float:
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                return False
            return (self.low is None or value >= self.low) and (
                self.high is None or value < self.high or (self.closed and value == self.high)
            )
        if self.kind is int:
            if isinstance(value, bool) or not isinstance(value, int):
                return False
            return (
                (self.low is None or value >= self.low)
                and (self.high is None or value <= self.high)
                and not (self.even and value % 2)
            )
        if self.kind is str:  # empty: the default, where null is allowed
            return isinstance(value, str) and (bool(value.strip()) or self.optional)
        return isinstance(value, self.kind)

    def describe(self) -> str:
        if self.kind is float:
            wanted = f"a finite number{_range(self.low, self.high, '<=' if self.closed else '<')}"
        elif self.kind is int:
            wanted = f"{'an even' if self.even else 'an'} integer{_range(self.low, self.high, '<=')}"
        else:
            wanted = {str: "a non-empty string", bool: "true or false", dict: "a JSON object"}[self.kind]
        return wanted + (" or null" if self.optional else "")


def _range(low: Optional[float], high: Optional[float], upper: str) -> str:
    if low is not None and high is not None:
        return f" with {low} <= value {upper} {high}"
    return f" >= {low}" if low is not None else (f" {upper} {high}" if high is not None else "")


# Every setting read from gliner_config.json, with what it may hold. Checked first, so that a
# value of the wrong type fails here, naming the field, and never later inside torch.
RULES: Dict[str, Rule] = {
    "model_name": Rule(str),
    "encoder_config": Rule(dict, optional=True),
    "hidden_size": Rule(int, low=2, even=True),
    "max_width": Rule(int, low=1, high=MAX_WIDTH),
    "max_len": Rule(int, low=1, high=MAX_LEN),
    "dropout": Rule(float, low=0.0, high=1.0),
    "span_mode": Rule(str),
    "num_rnn_layers": Rule(int, low=0),
    "ent_token": Rule(str),
    "sep_token": Rule(str),
    "embed_ent_token": Rule(bool),
    "words_splitter_type": Rule(str, optional=True),
    "subtoken_pooling": Rule(str, optional=True),
    "class_token_index": Rule(int, low=-1),
    "vocab_size": Rule(int, low=-1),
    "labels_encoder": Rule(str, optional=True),
    "labels_encoder_config": Rule(dict, optional=True),
}


def check_fields(values: Dict[str, Any], where: str = "gliner_config.json", rules: Dict[str, Rule] = RULES) -> None:
    """Each value of ``values`` that ``rules`` knows must fit its rule (a CheckpointError naming it)."""
    for name, value in values.items():
        rule = rules.get(name)
        if rule is not None and not rule.allows(value):
            raise CheckpointError(
                f"{name} in {where} must be {rule.describe()}, got {value!r} ({type(value).__name__})."
            )


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
    labels_encoder: Optional[str] = None  # bi-encoders: the labels' own encoder (id or name)
    labels_encoder_config: Optional[Dict[str, Any]] = None
    extra: Dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_official(cls, cfg: Dict[str, Any]) -> "GLiNERSettings":
        """Read an official config dict, rejecting families and options we do not implement."""
        if not isinstance(cfg, dict):
            raise CheckpointError(f"gliner_config.json must hold a JSON object, not {type(cfg).__name__}.")
        check_fields(cfg)
        for key, family in _OTHER_FAMILY_FIELDS.items():
            if cfg.get(key):
                raise CheckpointError(
                    f"This checkpoint is a {family} GLiNER model ({key}={cfg[key]!r}); spacy-gliner "
                    "implements the span and token-level models, uni-encoder and bi-encoder, only."
                )
        span_mode = cfg.get("span_mode", "markerV0")
        if span_mode in UNSUPPORTED_SPAN_MODES:
            raise CheckpointError(
                f"This checkpoint is a span_mode={span_mode!r} GLiNER model, which spacy-gliner does not implement: "
                f"{UNSUPPORTED_SPAN_MODES[span_mode]}. Supported: {', '.join(map(repr, SPAN_MODES))}."
            )
        if span_mode not in SPAN_MODES:
            raise CheckpointError(f"Unknown span_mode={span_mode!r}; supported: {', '.join(map(repr, SPAN_MODES))}.")
        for key, reason in _UNSUPPORTED_OPTIONS.items():
            if cfg.get(key):
                raise CheckpointError(f"This checkpoint sets {key}={cfg[key]!r}, which spacy-gliner refuses: {reason}.")
        model_type = cfg.get("model_type")
        if model_type not in _MODEL_TYPES:
            raise CheckpointError(
                f"Unsupported GLiNER model_type {model_type!r}: spacy-gliner implements"
                f" {', '.join(t for t in _MODEL_TYPES if t)}."
            )
        pooling = cfg.get("subtoken_pooling", "first") or "first"
        if pooling != "first":
            raise CheckpointError(
                f"subtoken_pooling={pooling!r} is not supported; only 'first' (the official default)."
            )
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
        settings.validate("gliner_config.json")
        return settings

    @property
    def token_level(self) -> bool:
        """Per-word start/end/inside scores instead of span scores (official ``*TokenModel``)."""
        return self.span_mode == TOKEN_LEVEL

    @property
    def bi_encoder(self) -> bool:
        """Labels read by their own encoder, not prompted with the text (official ``BiEncoder*Model``)."""
        return bool(self.labels_encoder)

    @property
    def relex(self) -> bool:
        """Entities and relations between them (official ``*RelexModel``; ``relation_settings`` reads the rest)."""
        return self.extra.get("relations_layer") is not None

    @property
    def family(self) -> str:
        """The official model class this checkpoint is, in words (for messages)."""
        kind = f"{'bi-encoder' if self.bi_encoder else 'uni-encoder'} {'token-level' if self.token_level else 'span'}"
        return kind + (" relation-extraction" if self.relex else "")

    def validate(self, where: str = "the GLiNER settings") -> None:
        """Every field by ``RULES``; the marker tokens must differ (each prompt needs both)."""
        check_fields({k: v for k, v in asdict(self).items() if k != "extra"}, where)
        if self.ent_token == self.sep_token:
            raise CheckpointError(f"ent_token and sep_token in {where} must differ, both are {self.ent_token!r}.")

    def to_official(self) -> Dict[str, Any]:
        """The config dict in the official layout (unknown fields are written back unchanged)."""
        out = dict(self.extra)
        out.update({k: v for k, v in asdict(self).items() if k != "extra"})
        out.setdefault("words_splitter_type", "whitespace")
        return out
