"""The GLiNER core: torch and transformers only, nothing of spaCy.

``settings`` (the checkpoint's config), ``checkpoint`` (find, load, save official
folders), ``tokenizers`` (a checkpoint's tokenizers, loaded, checked and saved), ``files``
(files read within bounds and without code, written with the umask's mode), ``network``
(the span and token-level networks), ``precision`` (the mixed-precision modes), ``words``
(GLiNER's word splitters), ``inputs`` (prompts, windows, batches), ``search`` (scored span
candidates over windows and label groups) and ``decoding`` (greedy span selection);
``gliner2``, the same for GLiNER2 checkpoints (gliner2 2.x). Modules are imported on use:
importing this package is free.
"""
