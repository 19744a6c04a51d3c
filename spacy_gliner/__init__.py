"""spacy-gliner: GLiNER zero-shot entity recognition as a native, trainable spaCy component."""
from .checkpoint import export

__all__ = ["export"]
