"""A console logger that also appends each evaluation, with its wall time, to a JSONL file.

spaCy's own loggers write scores but not the seconds since training started, which a
comparison at equal wall time needs. Loaded with ``spacy train --code`` by _spacy_ner.py.
"""

import json
import sys
from typing import IO, Any, Callable, Dict, Optional, Tuple

import spacy


@spacy.registry.loggers("spacy_gliner_bench.TimedConsoleLogger.v1")
def timed_console_logger(
    path: str,
) -> Callable[..., Tuple[Callable[[Optional[Dict[str, Any]]], None], Callable[[], None]]]:
    console = spacy.registry.loggers.get("spacy.ConsoleLogger.v3")(progress_bar=None)

    def setup(nlp: Any, stdout: IO = sys.stdout, stderr: IO = sys.stderr) -> Tuple[Callable, Callable]:
        log_step, finalize = console(nlp, stdout, stderr)
        stream = open(path, "a", encoding="utf8")

        def step(info: Optional[Dict[str, Any]]) -> None:
            log_step(info)
            if info is not None:
                other = info.get("other_scores") or {}
                record = {"step": info["step"], "epoch": info["epoch"], "seconds": info["seconds"],
                          "words": info["words"], "score": info["score"], "ents_f": other.get("ents_f")}  # fmt: skip
                stream.write(json.dumps(record) + "\n")
                stream.flush()

        def done() -> None:
            finalize()
            stream.close()

        return step, done

    return setup
