"""Where the benchmarks find the shared data: ``../shared/data`` beside the project root,
or the folder that ``SPACY_GLINER_DATA`` names."""

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("SPACY_GLINER_DATA", ROOT.parent / "shared" / "data"))
REF = DATA / "models" / "ref_minilm"
