"""The ``spacy-gliner`` command line: commands in ``app``, reading inputs in ``io``."""
