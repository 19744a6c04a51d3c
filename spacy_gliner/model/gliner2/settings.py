"""The settings of a GLiNER2 checkpoint (``config.json`` with ``model_type: "extractor"``).

Every field that this package reads is checked by type and range against one table per
section (the top level, ``span_head``, ``boundary_head``), with a message naming the field;
options that change the network and are not implemented are refused by name. Sizes that
weights do not bound (top-k budgets, pool sizes, widths) get upper limits here, so a
hostile config cannot make inference allocate without bound. Kept free of torch.
"""

from dataclasses import dataclass, field
from typing import Any, Dict, Mapping, Optional, Tuple

from ..settings import CheckpointError, Rule

CONFIG_FILE = "config.json"
ENCODER_DIR = "encoder_config"  # the encoder's transformers config, in a folder of its own
ENCODER_CONFIG = f"{ENCODER_DIR}/config.json"
MODEL_TYPE = "extractor"
ARCHITECTURES = ("span", "boundary")
COUNTING_LAYERS = ("count_lstm", "count_lstm_moe", "count_lstm_v2")
OVERLAP_POLICIES = ("flat", "nested", "longest")
LIMIT = 65536  # the largest budget, pool or cap a checkpoint may set (gliner2's defaults are 8-384)
MAX_LAYERS = 64  # layers of a head (refinement, attention): gliner2's defaults are 0-2


@dataclass(frozen=True)
class Field:
    """One config field: what it may hold (``settings.Rule``, GLiNER's), its default and, for
    strings, the values allowed."""

    rule: Rule
    default: Any
    choices: Tuple[str, ...] = ()


def _int(default: int, low: int = 1, high: int = LIMIT) -> Field:
    return Field(Rule(int, low, high), default)


def _float(default: float, low: Optional[float] = 0.0, high: Optional[float] = None, closed: bool = False) -> Field:
    return Field(Rule(float, low, high, closed=closed), default)


def _flag(default: bool) -> Field:
    return Field(Rule(bool), default)


def _choice(default: str, *choices: str) -> Field:
    return Field(Rule(str), default, choices)


POSITIVE = 1e-12  # "> 0" for floats

# gliner2's SpanHeadSettings
SPAN_HEAD = {
    "max_width": _int(8, 1, 128),
    "span_mode": _choice("markerV0", "markerV0"),
    "dropout": _float(0.1, 0.0, 1.0),
}

# gliner2's BoundaryHeadSettings: every field (loss weights too, gliner2 refuses unknown keys)
BOUNDARY_HEAD = {
    "boundary_dim": _int(128, 1, 8192),
    "pair_dim": _int(128, 1, 8192),
    "boundary_refinement_layers": _int(1, 0, MAX_LAYERS),
    "boundary_ffn_multiplier": _float(2.0, POSITIVE, 64.0),
    "start_top_k": _int(16, 1, 4096),
    "end_top_k": _int(16, 1, 4096),
    "ends_per_start": _int(8, 1, 4096),
    "starts_per_end": _int(8, 1, 4096),
    "candidate_budget": _int(128),
    "training_candidate_budget": _int(160),
    "max_gold_per_query": _int(32),
    "end_block_size": _int(256),
    "bidirectional_proposals": _flag(True),
    "use_inside_evidence": _flag(True),
    "dropout": _float(0.1, 0.0, 1.0),
    "export_mode": _choice("auto", "auto", "streaming", "vectorized"),
    "vectorized_pair_elements": _int(16_777_216, 1, 2**62),
    "boundary_negative_weight": _float(1.0),
    "boundary_marginal_loss": _choice("bce", "bce", "asymmetric_focal"),
    "loss_reduction": _choice("global", "global", "per_query", "sum"),
    "boundary_focal_gamma_positive": _float(0.0),
    "boundary_focal_gamma_negative": _float(2.0),
    "boundary_focal_clip": _float(0.05, 0.0, 1.0),
    "hard_negatives_per_positive": _int(5, 0),
    "minimum_hard_negatives": _int(8, 0),
    "hard_negative_keep_all_when_absent": _flag(False),
    "enable_span_content": _flag(False),
    "content_dim": _int(64, 1, 8192),
    "content_soft_max_pool": _flag(False),
    "enable_rotary_endpoints": _flag(False),
    "rotary_base": _float(10000.0, POSITIVE),
    "boundary_attention_layers": _int(0, 0, MAX_LAYERS),
    "boundary_attention_heads": _int(4, 1, 1024),
    "boundary_attention_window": _int(0, 0),
    "query_conditioned_inside_weight": _flag(False),
    "endpoint_difference_features": _flag(False),
    "reranker_endpoint_compat": _flag(True),
    "multihead_pair_compat_heads": _int(8, 1, 8192),
    "boundary_top_k_alpha": _float(0.0),
    "boundary_top_k_max": _int(128, 1, 4096),
    "boundary_top_k_bucket": _int(8, 1, 4096),
    "candidate_pool": _choice("per_query", "per_query", "shared"),
    "pool_boundary_top_k": _int(64, 1, 4096),
    "pool_size": _int(384),
    "min_pool_per_query": _int(8, 0),
    "candidate_attention_layers": _int(2, 0, MAX_LAYERS),
    "candidate_attention_heads": _int(4, 1, 1024),
    "query_attention_layers": _int(1, 0, MAX_LAYERS),
    "enable_abstention": _flag(True),
    "abstention_threshold": _float(0.5, 0.0, 1.0, closed=True),
    "proposal_loss_weight": _float(0.3),
    "consistency_loss_weight": _float(0.1),
    "rerank_listwise_weight": _float(0.3),
    "soft_iou_aux_weight": _float(0.2),
    "soft_iou_anneal_steps": _int(20_000, 0, 2**62),
    "abstention_loss_weight": _float(0.2),
    "consistency_warmup_steps": _int(2000, 0, 2**62),
    "enable_count_head": _flag(True),
    "count_loss_weight": _float(0.2),
    "adaptive_threshold": _flag(False),
    "overlap_policy": _choice("flat", *OVERLAP_POLICIES),
    "pair_temperature": _float(1.0, POSITIVE),
    "relation_temperature": _float(1.0, POSITIVE),
    "record_temperature": _float(1.0, POSITIVE),
    "classification_temperature": _float(1.0, POSITIVE),
    "negative_query_ratio": _float(0.5),
    "max_negative_queries_per_batch": _int(64),
    "classification_loss_weight": _float(1.0),
    "enable_records": _flag(True),
    "record_dim": _int(128, 1, 8192),
    "record_instance_queries": _int(32, 1, 4096),
    "record_anchor_proposal_threshold": _float(0.2, 0.0, 1.0, closed=True),
    "record_anchor_threshold": _float(0.5, 0.0, 1.0, closed=True),
    "record_field_threshold": _float(0.5, 0.0, 1.0, closed=True),
    "record_loss_weight": _float(1.0),
    "enable_relations": _flag(True),
    "relation_heads_per_type": _int(32, 1, 4096),
    "relation_tails_per_type": _int(32, 1, 4096),
    "relation_pair_cap": _int(128),
    "relation_loss_weight": _float(1.0),
    "relation_argument_proposal_threshold": _float(0.0, 0.0, 1.0, closed=True),
    "directional_relation_states": _flag(False),
    "relation_biaffine_content": _flag(False),
}

# top-level fields read here (transformers adds many more, which are left alone)
TOP_LEVEL = {
    "architecture": _choice("span", *ARCHITECTURES),
    "token_pooling": _choice("first", "first"),
    "counting_layer": _choice("count_lstm", *COUNTING_LAYERS),
    "max_width": _int(8, 1, 128),
    "max_len": _int(0, 1, 2**31),  # a training setting: gliner2's inference ignores it
    "config_version": _int(3, 0, 2**31),
    "attn_implementation": _choice("sdpa", "sdpa", "flash_attention_2", "eager"),
}

# why values that gliner2 accepts are refused here
_REFUSED = {
    ("token_pooling", "mean"): "sub-word pooling 'mean' (gliner2's slow path) is not implemented; 'first' is",
    ("token_pooling", "max"): "sub-word pooling 'max' (gliner2's slow path) is not implemented; 'first' is",
}


def check(section: str, name: str, spec: Field, value: Any) -> Any:
    """``value`` if it fits ``spec``, else a CheckpointError naming ``section.name``."""
    where = f"{section}.{name}" if section else name
    if not spec.rule.allows(value):
        raise CheckpointError(
            f"{where} in {CONFIG_FILE} must be {spec.rule.describe()}, got {value!r} ({type(value).__name__})."
        )
    if spec.choices and value not in spec.choices:
        reason = _REFUSED.get((name, value))
        if reason:
            raise CheckpointError(f"{where}={value!r} in {CONFIG_FILE} is refused: {reason}.")
        raise CheckpointError(
            f"{where} in {CONFIG_FILE} must be one of {', '.join(map(repr, spec.choices))}, got {value!r}."
        )
    return value


def _section(values: Any, table: Dict[str, Field], section: str, defaults: Mapping[str, Any] = {}) -> Dict[str, Any]:
    """Every field of ``table``: the checked value of ``values``, else the default."""
    if values is None:
        values = {}
    if not isinstance(values, dict):
        raise CheckpointError(
            f"{section} in {CONFIG_FILE} must be a JSON object, got {values!r} ({type(values).__name__})."
        )
    unknown = sorted(set(values) - set(table))
    if unknown:
        raise CheckpointError(
            f"{section} in {CONFIG_FILE} has options this version does not know ({', '.join(unknown)}); they may change"
            " the network. Was the checkpoint written by a newer gliner2?"
        )
    out = {}
    for name, spec in table.items():
        value = values.get(name, defaults.get(name, spec.default))
        out[name] = check(section, name, spec, value)
    return out


@dataclass(frozen=True)
class Gliner2Settings:
    """What the networks and decoding of a GLiNER2 checkpoint need from its config."""

    architecture: str
    counting_layer: str = "count_lstm"
    span_head: Dict[str, Any] = field(default_factory=dict)
    boundary_head: Dict[str, Any] = field(default_factory=dict)

    @property
    def max_width(self) -> int:
        return int(self.span_head["max_width"])

    @property
    def family(self) -> str:
        return f"GLiNER2 {self.architecture}"

    @classmethod
    def read(cls, cfg: Any) -> "Gliner2Settings":
        """Read and check a config dict; migrates legacy configs as gliner2 does."""
        if not isinstance(cfg, dict):
            raise CheckpointError(f"{CONFIG_FILE} must hold a JSON object, not {type(cfg).__name__}.")
        if cfg.get("model_type") != MODEL_TYPE:
            raise CheckpointError(
                f"{CONFIG_FILE} has model_type {cfg.get('model_type')!r}: a GLiNER2 checkpoint has {MODEL_TYPE!r} "
                "(GLiNER checkpoints have gliner_config.json instead)."
            )
        top = {name: cfg[name] for name in TOP_LEVEL if cfg.get(name) is not None}
        top = {name: check("", name, TOP_LEVEL[name], value) for name, value in top.items()}
        architecture = top.get("architecture", "span")  # legacy configs have none: span
        if architecture == "span":
            span = cfg.get("span_head")
            if "max_width" in top and isinstance(span or {}, dict):  # a legacy top-level max_width
                span = {"max_width": top["max_width"], **(span or {})}
            return cls(
                architecture,
                counting_layer=top.get("counting_layer", "count_lstm"),
                span_head=_section(span, SPAN_HEAD, "span_head"),
            )
        # configs older than version 3 did not build the records and relations heads
        legacy = {"enable_records": False, "enable_relations": False} if top.get("config_version", 3) < 3 else {}
        head = _section(cfg.get("boundary_head"), BOUNDARY_HEAD, "boundary_head", legacy)
        _check_boundary(head)
        return cls(architecture, boundary_head=head)


def _check_boundary(head: Dict[str, Any]) -> None:
    """The rules between boundary fields (gliner2's ``validate_boundary_head``)."""
    rules = (
        (
            not head["enable_rotary_endpoints"] or (head["boundary_dim"] % 2 == 0 and head["pair_dim"] % 2 == 0),
            "enable_rotary_endpoints needs an even boundary_dim and pair_dim",
        ),
        (
            head["boundary_attention_layers"] == 0 or head["boundary_dim"] % head["boundary_attention_heads"] == 0,
            "boundary_dim must be divisible by boundary_attention_heads",
        ),
        (
            head["pair_dim"] % head["multihead_pair_compat_heads"] == 0,
            "pair_dim must be divisible by multihead_pair_compat_heads",
        ),
        (
            head["boundary_top_k_max"] >= max(head["start_top_k"], head["end_top_k"]),
            "boundary_top_k_max must be at least start_top_k and end_top_k",
        ),
        (head["min_pool_per_query"] <= head["pool_size"], "min_pool_per_query must not exceed pool_size"),
        (
            (head["candidate_attention_layers"] == 0 and head["query_attention_layers"] == 0)
            or head["pair_dim"] % head["candidate_attention_heads"] == 0,
            "pair_dim must be divisible by candidate_attention_heads",
        ),
        (
            head["training_candidate_budget"] >= head["candidate_budget"],
            "training_candidate_budget must be at least candidate_budget",
        ),
        (
            head["record_anchor_proposal_threshold"] <= head["record_anchor_threshold"],
            "record_anchor_proposal_threshold must not exceed record_anchor_threshold",
        ),
    )
    for ok, rule in rules:
        if not ok:
            raise CheckpointError(f"boundary_head in {CONFIG_FILE}: {rule}.")
