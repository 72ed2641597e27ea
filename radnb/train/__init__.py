"""fastai training helpers for radiology: data, models, transfer learning, metrics, interpretation.

The few-lines path for a resident::

    import radnb
    dls = radnb.classification_dls(radnb.sample_data("chest_xray"), windows="auto")
    learn = radnb.classifier(dls)   # a compact CNN on a CPU, ResNet-18 on a GPU
    learn.fit_one_cycle(20)         # the learner's default rate (learn.lr) suits its architecture
    report = radnb.evaluate(learn)

Everything returned is ordinary fastai (``DataLoaders``, ``Learner``), so a
researcher keeps full control. Submodules: :mod:`~radnb.train.metrics` (numpy
reference metrics and fastai wrappers), :mod:`~radnb.train.interpret`
(Grad-CAM, top losses), :mod:`~radnb.train.blocks` (fastai blocks),
:mod:`~radnb.train.cache` (preprocessing cache), :mod:`~radnb.train.prep`.

Examples
--------
>>> import radnb, radnb.train as rt
>>> radnb.classifier is rt.classifier and radnb.evaluate is rt.evaluate   # radnb's names are these
True
"""
import warnings

# fastai.layers decorates two activations with torch.jit.script when fastai is first imported, and
# torch >= 2.9 warns that jit.script is deprecated: a FutureWarning box in every lesson that says
# nothing a resident can act on. Silenced here only, around the import that triggers it (the
# submodules below are where radnb first imports fastai); every other warning stays as it was.
with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message=r".*torch\.jit\.script.* is deprecated", category=FutureWarning)
    from .data import classification_dls, patient_split, segmentation_dls
    from .evaluate import evaluate
    from .export import save_seg
    from .inference import load_model, predict, predict_volume, save_model
    from .learners import classifier, segmenter
    from .transfer import pretrain

__all__ = ["classification_dls", "segmentation_dls", "patient_split", "classifier", "segmenter", "pretrain",
           "predict", "predict_volume", "evaluate", "save_model", "load_model", "save_seg"]
