"""How the core touches files: what a checkpoint folder holds is read within bounds and
without running code; what the package writes gets the mode the user's umask gives.

A hostile folder may hold huge or deeply nested configs, or configs that name custom code
(``auto_map``) for transformers to import: config files are read up to ``MAX_CONFIG_BYTES``,
folders that name code are refused by name, and every transformers load is told never to
run any. Light on purpose (no torch, no transformers at import): the CLI imports it too.
"""

import json
import os
from pathlib import Path
from typing import Any

from .settings import CheckpointError

TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "spm.model", "vocab.txt", "sentencepiece.bpe.model")
# files transformers reads where they are present in a tokenizer or encoder folder
# (configs that may name custom code first)
CODE_FILES = ("tokenizer_config.json", "config.json")
READ_FILES = (*CODE_FILES, *TOKENIZER_FILES, "special_tokens_map.json", "added_tokens.json")

# Limits on what a hostile folder can make us read (published checkpoints stay far below).
MAX_CONFIG_BYTES = 16 << 20  # a JSON config (gliner_config.json: a few kB; tokenizer configs: up to ~1 MB)
MAX_TOKENIZER_BYTES = 256 << 20  # any other file transformers reads (the largest vocabularies: ~35 MB)


def read_json(path: Path) -> Any:
    """A JSON config file of at most ``MAX_CONFIG_BYTES``: a hostile one can neither make us read
    gigabytes nor nest deeper than the parser's recursion."""
    try:
        with path.open("rb") as file:
            data = file.read(MAX_CONFIG_BYTES + 1)
    except OSError as err:
        raise CheckpointError(f"Cannot read {path}: {err}") from err
    if len(data) > MAX_CONFIG_BYTES:
        raise CheckpointError(
            f"{path} is larger than {MAX_CONFIG_BYTES >> 20} MiB, which no config file is: it is not read."
        )
    try:
        return json.loads(data.decode("utf8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as err:
        raise CheckpointError(f"Cannot read {path}: {err}") from err


def check_code_free(*folders: Path) -> None:
    """Refuse a tokenizer or encoder folder that names custom code (``auto_map``: transformers would
    import Python files from it, asking on stdin first) or holds files too large to be what they say."""
    for folder in folders:
        for name in READ_FILES:
            path = folder / name
            if not path.is_file():
                continue
            if path.stat().st_size > (MAX_CONFIG_BYTES if name.endswith(".json") else MAX_TOKENIZER_BYTES):
                raise CheckpointError(f"{path} is larger than any {name} of a published model: it is not read.")
            cfg = read_json(path) if name in CODE_FILES else None
            if isinstance(cfg, dict) and "auto_map" in cfg:
                raise CheckpointError(
                    f"{path} names custom code (auto_map: {cfg['auto_map']!r}): loading it would run Python files "
                    "from the checkpoint, and spacy-gliner never runs code from a checkpoint. Use a model whose "
                    f"tokenizer and encoder transformers implements, or remove auto_map from {name} if the files "
                    "work without it."
                )


def pretrained(loader: Any, source: str, **kwargs: Any) -> Any:
    """``loader.from_pretrained(source)`` (AutoTokenizer, AutoConfig, AutoModel) with
    ``trust_remote_code=False``: transformers never runs code from a folder or Hub repository,
    and never asks on stdin whether to. Where it needs such code, a CheckpointError says so
    (transformers' own message advises trust_remote_code=True, which is not ours to give)."""
    try:
        return loader.from_pretrained(source, trust_remote_code=False, **kwargs)
    except ValueError as err:
        if "trust_remote_code" not in str(err):
            raise
        raise CheckpointError(
            f"{source} names custom code (auto_map) that transformers would have to run to load it, and spacy-gliner "
            "never runs code from a checkpoint or a Hub repository. Use a model whose tokenizer and encoder "
            "transformers implements."
        ) from err


def new_file_mode() -> int:
    """The mode a newly created file gets from the user's umask (``0o666 & ~umask``), for
    files written under a private temporary name first (mkstemp, safetensors: 0600)."""
    return 0o666 & ~_umask()


def _umask() -> int:
    """The process umask, read without changing it where Linux shows it (no race with threads)."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except OSError:
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask
