"""spacy-gliner: GLiNER zero-shot entity recognition as a native, trainable spaCy component.

Layers, imports flowing down only: the tools (``cli``, ``data``, ``scale``, ``redact``,
``markup``) use the spaCy layer (``component``, ``architectures``, ``alignment``,
``training``, ``loading``, ``records``, ``render``), which uses the torch-only GLiNER core
(``model``). Nothing is imported here eagerly:
spaCy imports the factory module in every ``Language()``, and this package with it.
"""

from typing import Any

__all__ = ["export"]


def __getattr__(name: str) -> Any:
    if name == "export":
        from .loading import export

        return export
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
