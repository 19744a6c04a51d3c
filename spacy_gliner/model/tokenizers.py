"""Tokenizers of checkpoints: loaded and checked against the weights, saved so that
transformers 4 and 5 both read them.

A checkpoint folder usually carries its tokenizer files; else the tokenizer of its encoder
(``model_name``) is loaded, from the Hub or its cache. GLiNER's special tokens are added as
the official loader adds them, and the tokenizer must address exactly the embedding rows of
the weights (a bi-encoder's official text tokenizer holds GLiNER's tokens beyond them: they
are left out). Failures name their real cause: missing SentencePiece packages, files written
by a newer transformers, an offline machine.
"""

import copy
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Dict, Optional, Set

from .files import TOKENIZER_FILES, check_code_free, pretrained, read_json
from .relation_settings import RelationSettings
from .settings import CheckpointError, GLiNERSettings

if TYPE_CHECKING:  # pragma: no cover
    from transformers import PreTrainedTokenizerBase

SPECIAL_TOKENS = ("[FLERT]",)  # followed by ent_token and sep_token, as the official loader adds them
LABELS_TOKENIZER_DIR = (  # bi-encoders: the labels encoder's tokenizer, as the official library saves it
    "labels_tokenizer"
)


def load_tokenizer(folder: Path, settings: GLiNERSettings, rows: int) -> "PreTrainedTokenizerBase":
    """The text tokenizer of the checkpoint in ``folder``: its own files, else its encoder's
    (``model_name``), with GLiNER's special tokens; it must address the encoder's ``rows``."""
    source = str(folder) if _has_tokenizer_files(folder) else settings.model_name
    tokenizer = _auto_tokenizer(
        source, source == settings.model_name, lambda err: _tokenizer_failure(folder, settings, source, err)
    )
    if not tokenizer.is_fast:
        raise CheckpointError(
            f"The tokenizer of {source!r} has no fast (Rust) version; spacy-gliner needs one to map sub-tokens to"
            " words."
        )
    add_special_tokens(tokenizer, settings)
    return _check_vocabulary(tokenizer, settings, rows, folder)


def load_labels_tokenizer(folder: Path, settings: GLiNERSettings, rows: int) -> "PreTrainedTokenizerBase":
    """A bi-encoder's labels tokenizer: ``labels_tokenizer/`` in the folder, else its ``labels_encoder``
    id; it must address no more rows than the labels encoder's embeddings."""
    local = folder / LABELS_TOKENIZER_DIR
    source = str(local) if (local / "tokenizer_config.json").is_file() else str(settings.labels_encoder)
    tokenizer = _auto_tokenizer(
        source,
        source == settings.labels_encoder,
        lambda err: (
            f"Cannot load the labels tokenizer of this bi-encoder from {source!r} ({type(err).__name__}: {err}). "
            f"Offline, copy the labels encoder's tokenizer files into {local}."
        ),
    )
    if len(tokenizer) > rows:
        raise CheckpointError(
            f"The labels tokenizer ({len(tokenizer)} tokens, from {source}) addresses more rows than the labels "
            f"encoder's embeddings in {folder} ({rows}). The tokenizer files belong to another model."
        )
    if tokenizer.pad_token is None and tokenizer.eos_token is not None:
        tokenizer.pad_token = tokenizer.eos_token  # as the official processor does
    return tokenizer


def _auto_tokenizer(source: str, outside: bool, failure: Callable[[Exception], str]) -> "PreTrainedTokenizerBase":
    """``AutoTokenizer`` from ``source`` (a folder outside the checkpoint is checked for code
    first); a failure that is not already a ``CheckpointError`` is one, worded by ``failure``."""
    from transformers import AutoTokenizer

    if outside and Path(source).is_dir():
        check_code_free(Path(source))
    try:
        return pretrained(AutoTokenizer, source, use_fast=True)
    except CheckpointError:
        raise
    except Exception as err:
        raise CheckpointError(failure(err)) from err


def save_tokenizer(tokenizer: Any, folder: Path) -> None:
    """``save_pretrained``, with a ``tokenizer_config.json`` that transformers 4 and 5 both read.

    transformers 5 writes the extra special tokens as a list under ``extra_special_tokens``,
    a key that transformers 4 reads as a dict (and fails on); under the older name
    ``additional_special_tokens`` both read the list.
    """
    tokenizer.save_pretrained(str(folder))
    path = folder / "tokenizer_config.json"
    cfg = _tokenizer_config(folder)
    special = cfg.get("extra_special_tokens")
    if isinstance(special, list):
        del cfg["extra_special_tokens"]
        cfg["additional_special_tokens"] = list(dict.fromkeys([*cfg.get("additional_special_tokens", []), *special]))
        path.write_text(json.dumps(cfg, indent=2, ensure_ascii=False) + "\n", encoding="utf8")


def add_special_tokens(tokenizer: Any, settings: GLiNERSettings) -> None:
    """Add [FLERT], the entity and the separator token where missing, in the official order
    (bi-encoders prompt nothing and their embeddings are never resized: nothing is added;
    relex models add the entity, separator and relation tokens, as their official loader)."""
    if settings.bi_encoder:
        return
    relex = RelationSettings.of(settings)
    tokens = (
        (settings.ent_token, settings.sep_token, relex.rel_token)
        if relex
        else (*SPECIAL_TOKENS, settings.ent_token, settings.sep_token)
    )
    missing = [t for t in tokens if t not in tokenizer.get_vocab()]
    if missing:
        tokenizer.add_tokens(missing, special_tokens=True)


def _check_vocabulary(tokenizer: Any, settings: GLiNERSettings, rows: int, folder: Path) -> Any:
    """The tokenizer, which must address exactly the checkpoint's embedding rows.

    A bi-encoder prompts nothing, and the official library adds GLiNER's marker tokens to its
    text tokenizer without resizing the encoder: those tokens, beyond the embedding rows, are
    removed from the tokenizer returned, so a text holding one (a word "<<ENT>>" from the spaCy
    splitter) is read as the characters it is, as the encoder was trained, instead of indexing a
    row that does not exist.
    """
    size = len(tokenizer)
    ent_id = tokenizer.convert_tokens_to_ids(settings.ent_token)
    if settings.bi_encoder:
        beyond = {i: t.content for i, t in tokenizer.added_tokens_decoder.items() if i >= rows}
        markers = {*SPECIAL_TOKENS, settings.ent_token, settings.sep_token}
        if size > rows and (len(beyond) != size - rows or not set(beyond.values()) <= markers):
            raise CheckpointError(
                f"The tokenizer ({size} tokens) addresses more rows than the text encoder's embeddings in {folder} "
                f"({rows}), beyond GLiNER's marker tokens. The tokenizer files belong to another model."
            )
        return _without_tokens(tokenizer, set(beyond)) if beyond else tokenizer
    if size != rows:
        raise CheckpointError(
            f"The tokenizer ({size} tokens, with GLiNER's special tokens) does not match the weights in {folder} "
            f"({rows} embedding rows). The tokenizer files belong to another model."
        )
    if settings.class_token_index not in (-1, ent_id):
        raise CheckpointError(
            f"gliner_config.json says {settings.ent_token} has id {settings.class_token_index} but the tokenizer "
            f"gives {ent_id}. The tokenizer files belong to another model."
        )
    relex = RelationSettings.of(settings)
    if relex is not None:
        _check_relation_marker(tokenizer, relex, folder)
    return tokenizer


def _check_relation_marker(tokenizer: Any, relations: RelationSettings, folder: Path) -> None:
    """A relex model's tokenizer must hold the relation marker, at the index the config names (if any)."""
    rel_id = tokenizer.convert_tokens_to_ids(relations.rel_token)
    if rel_id is None or rel_id == tokenizer.unk_token_id:
        raise CheckpointError(
            f"The tokenizer in {folder} has no {relations.rel_token} token, which relex models prompt relation types "
            "with. The tokenizer files belong to another model."
        )
    if relations.rel_token_index not in (-1, rel_id):
        raise CheckpointError(
            f"gliner_config.json says {relations.rel_token} has id {relations.rel_token_index} but the tokenizer "
            f"gives {rel_id}. The tokenizer files belong to another model."
        )


def _without_tokens(tokenizer: Any, ids: Set[int]) -> Any:
    """A copy of a fast tokenizer without the added tokens ``ids``: its Rust tokenizer rebuilt from
    its JSON without them (transformers has no call that removes an added token)."""
    from tokenizers import Tokenizer

    data = json.loads(tokenizer.backend_tokenizer.to_str())
    data["added_tokens"] = [token for token in data["added_tokens"] if token["id"] not in ids]
    plain = copy.deepcopy(tokenizer)
    plain._tokenizer = Tokenizer.from_str(json.dumps(data))
    return plain


def _has_tokenizer_files(folder: Path) -> bool:
    return any((folder / name).exists() for name in TOKENIZER_FILES)


def _tokenizer_failure(folder: Path, settings: GLiNERSettings, source: str, err: Exception) -> str:
    """Why the tokenizer did not load, naming the real cause where it can be told."""
    import transformers

    cause = f"({type(err).__name__}: {err})"
    version = transformers.__version__
    if source != settings.model_name:
        special = _tokenizer_config(folder).get("extra_special_tokens")
        if isinstance(special, list) and int(version.split(".")[0]) < 5:
            return (
                f"The tokenizer files in {folder} were written by transformers 5 (extra_special_tokens is a list) "
                f"and transformers {version} cannot read them {cause}. Upgrade transformers "
                "(`pip install -U 'transformers>=5'`), or save the pipeline again with this version of "
                "spacy-gliner, which writes tokenizer files that transformers 4 and 5 both read."
            )
        return f"The tokenizer files in {folder} could not be read by transformers {version} {cause}."
    needs = [
        package
        for module, package in (("sentencepiece", "sentencepiece"), ("google.protobuf", "protobuf"))
        if not _importable(module)
    ]
    if needs and _is_sentencepiece(err):
        return (
            f"This checkpoint ships no tokenizer files, and the tokenizer of its encoder {settings.model_name!r} "
            f"is a SentencePiece model that transformers converts with the packages {' and '.join(needs)}, "
            f"missing here {cause}: `pip install sentencepiece protobuf`."
        )
    return (
        f"This checkpoint ships no tokenizer files, so the tokenizer of its encoder {settings.model_name!r} is "
        f"needed, from the Hugging Face Hub or its local cache {cause}. If this machine is offline, download it "
        f"where the Hub is reachable (`hf download {settings.model_name} --local-dir <folder>`) and copy the "
        f"tokenizer files into the checkpoint folder {folder}; or load the checkpoint once online and save the "
        "pipeline (`nlp.to_disk`): a saved pipeline carries its tokenizer."
    )


def _tokenizer_config(folder: Path) -> Dict[str, Any]:
    try:
        data = read_json(folder / "tokenizer_config.json")
    except CheckpointError:
        return {}
    return data if isinstance(data, dict) else {}


def _importable(module: str) -> bool:
    import importlib.util

    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def _is_sentencepiece(err: Optional[BaseException]) -> bool:
    """Whether ``err`` (or its cause) is a failed SentencePiece conversion: transformers 4 names the
    missing package; transformers 5 falls back to its tiktoken reader, which fails naming tiktoken."""
    while err is not None:
        text = f"{type(err).__name__} {err}".lower()
        if any(name in text for name in ("sentencepiece", "protobuf", "tiktoken")):
            return True
        err = err.__cause__ or err.__context__
    return False
