"""Imports fastai once, quietly: every radnb.train module that uses fastai imports this module first.

fastai.layers decorates two activations with torch.jit.script when fastai is first imported, and
torch >= 2.9 warns that jit.script is deprecated: a FutureWarning box in every lesson that says
nothing a resident can act on. Silenced here only, around the import that triggers it; every other
warning (and the same message from anyone else's code later) stays as it was.
"""
import warnings

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message=r".*torch\.jit\.script.* is deprecated", category=FutureWarning)
    import fastai.layers  # noqa: F401  (fastai.torch_core's jit decorators run here, once)
