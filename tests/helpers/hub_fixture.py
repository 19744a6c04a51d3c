"""An offline Hugging Face cache that reproduces the download path of the default checkpoint.

``urchade/gliner_small-v2.1`` ships ``gliner_config.json`` and the weights but no tokenizer
files: its config names the encoder ``microsoft/deberta-v3-small``, whose tokenizer is a
SentencePiece model (``spm.model``) that transformers converts to a fast tokenizer. This
module writes a tiny stand-in of both repositories, in huggingface_hub's cache layout
(``$HF_HOME/hub/models--owner--name/{blobs,snapshots/<rev>,refs/main}``), so that the
path a user's first ``add_pipe("gliner")`` takes runs here with ``HF_HUB_OFFLINE=1``:

* the encoder: a SentencePiece unigram model trained here on benchmark sentences, with
  DeBERTa-v3's conventions ([PAD]=0, [CLS]=1, [SEP]=2, [UNK]=3, NFKC normalisation, [MASK]
  added after the pieces), ``tokenizer_config.json`` and ``config.json`` of a tiny
  DeBERTa-v3 (no tokenizer.json, as on the Hub);
* the GLiNER checkpoint: built and saved by the official library around that encoder
  (scores spread as in ``official_checkpoints``), then stripped to config + weights.
"""

import hashlib
import io
import json
import os
from pathlib import Path
from typing import Dict, List

DEFAULT_ID = "urchade/gliner_small-v2.1"
ENCODER_ID = "microsoft/deberta-v3-small"
REVISION = "7f3e2c1b0a9d8e7f6a5b4c3d2e1f0a9b8c7d6e5f"  # any 40 hex digits: the commit refs/main names
VOCAB_SIZE = 1200  # SentencePiece pieces, [MASK] comes after them (DeBERTa-v3: 128000)
SPM_SOURCES = (("conll2003", 600), ("CrossNER_AI", 200), ("mit-movie", 300), ("CrossNER_politics", 200))

# Characters SentencePiece's NFKC rule changes: a ligature, full-width letters, no-break and
# other odd spaces, emoji (unknown to the model), a zero-width space (a word of its own for
# GLiNER's splitter, nothing for the tokenizer), combining accents.
NORMALISED_TEXTS = (
    "The ﬁnance minister of Ｊａｐａｎ met Ｔｏｙｏｔａ executives in Tokyo .",
    "Angela\u00a0Merkel visited Paris\u202fon Monday with Emmanuel\u2009Macron .",
    "Elon Musk 🚀 launched a rocket from Florida for NASA 🛰 yesterday .",
    "Cafe\u0301 owner Jose\u0301 Garci\u0301a opened a shop in Madrid \u200b with Google .",
    "Ｂａｒａｃｋ Ｏｂａｍａ ﬂew to Ｂｅｒｌｉｎ … and then to London ！",
    "Microsoft ™ hired ＭＩＴ graduates ① and ② in Seattle ½ a year ago .",
)
NORMALISED_LABELS = ("person", "organization", "location", "country", "company")


def train_sentencepiece(texts: List[str], vocab_size: int = VOCAB_SIZE) -> bytes:
    """A unigram SentencePiece model with DeBERTa-v3's special pieces and normalisation."""
    import sentencepiece as spm

    model = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(texts),
        model_writer=model,
        vocab_size=vocab_size,
        model_type="unigram",
        pad_id=0,
        bos_id=1,
        eos_id=2,
        unk_id=3,
        pad_piece="[PAD]",
        bos_piece="[CLS]",
        eos_piece="[SEP]",
        unk_piece="[UNK]",
        normalization_rule_name="nmt_nfkc",
        character_coverage=1.0,
        num_threads=1,
        minloglevel=2,
    )
    return model.getvalue()


def _cache_repo(hub: Path, repo_id: str, files: Dict[str, bytes]) -> Path:
    """Write ``files`` as huggingface_hub caches a download: blobs, a snapshot of links, refs/main."""
    repo = hub / ("models--" + repo_id.replace("/", "--"))
    snapshot = repo / "snapshots" / REVISION
    (repo / "blobs").mkdir(parents=True, exist_ok=True)
    snapshot.mkdir(parents=True, exist_ok=True)
    (repo / "refs").mkdir(exist_ok=True)
    (repo / "refs" / "main").write_text(REVISION)
    for name, data in files.items():
        blob = repo / "blobs" / hashlib.sha256(data).hexdigest()
        blob.write_bytes(data)
        link = snapshot / name
        if link.exists() or link.is_symlink():
            link.unlink()
        link.symlink_to(os.path.relpath(blob, snapshot))
    return snapshot


def write_hub_cache(hf_home: Path) -> Dict[str, Path]:
    """Fill ``hf_home`` (used as ``HF_HOME``) with the encoder and GLiNER repositories.

    Returns the two snapshot folders, by repository id.
    """
    import tempfile

    import torch
    from gliner import GLiNER, GLiNERConfig
    from transformers import AutoTokenizer

    from helpers.data import benchmark
    from helpers.official_checkpoints import ENCODER_WIDTH, _encoder_config, _spread_scores

    texts = [t for name, n in SPM_SOURCES for t in benchmark(name, n)[0]]
    # config.json names the model type (deberta-v2), which is how transformers finds the tokenizer class
    encoder_files = {
        "config.json": json.dumps(_encoder_config("deberta", VOCAB_SIZE + 1).to_dict()).encode(),
        "spm.model": train_sentencepiece(texts),
        "tokenizer_config.json": json.dumps({"do_lower_case": False, "vocab_type": "spm"}).encode(),
    }
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        (tmp / "encoder").mkdir()
        for name, data in encoder_files.items():
            (tmp / "encoder" / name).write_bytes(data)
        tokenizer = AutoTokenizer.from_pretrained(str(tmp / "encoder"))
        assert tokenizer.convert_tokens_to_ids(["[PAD]", "[CLS]", "[SEP]", "[UNK]", "[MASK]"]) == [
            0,
            1,
            2,
            3,
            VOCAB_SIZE,
        ]
        tokenizer.add_tokens(["[FLERT]", "<<ENT>>", "<<SEP>>"], special_tokens=True)
        encoder_config = _encoder_config("deberta", len(tokenizer))
        config = GLiNERConfig(
            model_name=ENCODER_ID,
            encoder_config=encoder_config,
            hidden_size=ENCODER_WIDTH,
            span_mode="markerV0",
            class_token_index=tokenizer.convert_tokens_to_ids("<<ENT>>"),
            vocab_size=len(tokenizer),
        )
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)
            model = GLiNER._get_gliner_class(config)(config, tokenizer=tokenizer, backbone_from_pretrained=False)
            model.eval()
            _spread_scores(model, 0)
        model.save_pretrained(tmp / "gliner", safe_serialization=True)
        # What the Hub repository holds: config and weights, no tokenizer files. Like the
        # published v2.1 config, it records no token indices (-1): the loader adds GLiNER's
        # tokens to the encoder's tokenizer, as when the model was trained.
        cfg = json.loads((tmp / "gliner" / "gliner_config.json").read_text(encoding="utf8"))
        cfg.update(class_token_index=-1, vocab_size=-1)
        gliner_files = {
            "gliner_config.json": json.dumps(cfg, indent=2).encode(),
            "model.safetensors": (tmp / "gliner" / "model.safetensors").read_bytes(),
        }
    hub = Path(hf_home) / "hub"
    return {
        ENCODER_ID: _cache_repo(hub, ENCODER_ID, encoder_files),
        DEFAULT_ID: _cache_repo(hub, DEFAULT_ID, gliner_files),
    }


def hub_env(hf_home: Path) -> Dict[str, str]:
    """The environment of a process that finds only ``hf_home``'s cache, offline."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "HUGGINGFACE_", "TRANSFORMERS_"))}
    env.update(HF_HOME=str(hf_home), HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", HF_HUB_DISABLE_TELEMETRY="1")
    return env


# -- what the tests run in a process of their own (the Hub's settings are read at import) ----
THRESHOLD = 0.3


def _doc_entities(doc, exact: bool = False) -> list:
    """The component's entities: widened to tokens, or at GLiNER's own characters (``exact``,
    what the command line writes)."""
    from spacy_gliner.alignment import exact_offsets

    group = doc.spans["sc"]
    offsets = exact_offsets(group) if exact else [(s.start_char, s.end_char) for s in group]
    return [
        {"start": start, "end": end, "label": s.label_, "score": float(score)}
        for s, (start, end), score in zip(group, offsets, group.attrs["scores"])
    ]


def run_default_pipeline(out: Path, saved: Path) -> None:
    """``add_pipe("gliner")`` with the default id, the official library, and ``to_disk``; JSON to ``out``."""
    import spacy
    from gliner import GLiNER

    from helpers.parity import official_inference
    from spacy_gliner.architectures import get_loaded
    from spacy_gliner.model.search import predict_entities

    texts, labels = list(NORMALISED_TEXTS), list(NORMALISED_LABELS)
    nlp = spacy.blank("en")
    component = nlp.add_pipe("gliner", config={"labels": labels, "threshold": THRESHOLD})
    docs = list(nlp.pipe(texts))
    loaded = get_loaded(component.model)
    official = GLiNER.from_pretrained(DEFAULT_ID)
    official.eval()
    theirs = official_inference(official, texts, labels, threshold=THRESHOLD)
    words = [w for t in texts for w in t.split()]
    result = {
        "source": component.model.attrs.get("source"),
        "official": theirs,
        "official_candidates": [ents.candidates() for ents in theirs],  # what explains a difference
        "chars": predict_entities(loaded, texts, labels, THRESHOLD),
        "docs": [_doc_entities(doc) for doc in docs],
        "exact": [_doc_entities(doc, exact=True) for doc in docs],
        "pieces": [
            loaded.tokenizer(words, is_split_into_words=True)["input_ids"],
            official.data_processor.transformer_tokenizer(words, is_split_into_words=True)["input_ids"],
        ],
        "unk": loaded.tokenizer.unk_token_id,
    }
    nlp.to_disk(saved)
    out.write_text(json.dumps(result), encoding="utf8")


def run_saved_pipeline(saved: Path, out: Path) -> None:
    """``spacy.load`` of a saved pipeline; its entities on the texts as JSON to ``out``."""
    import spacy

    nlp = spacy.load(saved)
    out.write_text(json.dumps([_doc_entities(doc) for doc in nlp.pipe(NORMALISED_TEXTS)]), encoding="utf8")


if __name__ == "__main__":
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/: the helpers package
    command, *args = sys.argv[1:]
    if command == "default":
        run_default_pipeline(Path(args[0]), Path(args[1]))
    elif command == "saved":
        run_saved_pipeline(Path(args[0]), Path(args[1]))
    elif command == "cache":
        write_hub_cache(Path(args[0]))
    else:
        raise SystemExit(f"unknown command {command!r}")
