"""GLiNER2 (``gliner2`` 2.x checkpoints, ``model_type: "extractor"``) in torch and transformers.

``settings`` (the config, checked), ``checkpoint`` (load a folder or Hub id), ``schema``
(entity types, classes, relations -> gliner2's prompt), ``inputs`` (words, windows,
batches), ``span`` and ``boundary`` (the two architectures), ``decoding`` (scores ->
entities, relations, classes; windows merged) and ``extract`` (the ``Extractor``). Both
architectures run every task of a schema in one pass per window. Modules are imported on
use: importing this package is free.
"""
