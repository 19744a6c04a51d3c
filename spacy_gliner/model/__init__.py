"""The GLiNER core: torch and transformers only, nothing of spaCy.

``settings`` (the checkpoint's config), ``checkpoint`` (find, load, save official
folders), ``network`` (the span model), ``inputs`` (words, prompts, windows, batches),
``search`` (scored span candidates over windows and label groups) and ``decoding``
(greedy span selection). Modules are imported on use: importing this package is free.
"""
