"""Tools around the component: corpus converters (``corpora``) and the paper's zero-shot
evaluation (``evaluation``)."""
