"""Looking inside a classifier: Grad-CAM heat maps and the cases it gets most wrong.

:func:`gradcam` implements Grad-CAM (Selvaraju et al., 2017) with torch hooks:
the feature maps of a late convolutional layer are weighted by the average
gradient of the class score with respect to them, summed, passed through ReLU
and scaled to [0, 1]. The heat map says *where* the evidence for a class sits -
useful for catching shortcuts (a burned-in marker, a tube, the image border).

:func:`top_losses` lists the validation cases with the highest loss;
:func:`show_gradcam` / :func:`show_top_losses` display them through radnb's
viewers (``radnb.compare`` / ``radnb.gallery``) or, outside Jupyter, matplotlib.

Examples
--------
>>> import numpy as np, radnb.train as rt
>>> from radnb.train.interpret import gradcam
>>> x = np.random.default_rng(0).normal(0, 100, (8, 32, 32)).astype("float32")
>>> learn = rt.classifier(rt.classification_dls(x, label=[0, 1] * 4, patient=range(8), windows="auto", size=32), arch="compact")
>>> cam = gradcam(learn, x[0])
>>> cam.heatmap.shape, float(cam.heatmap.min()) >= 0.0
((32, 32), True)
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, List, Optional, Sequence

import numpy as np
import pandas as pd
import torch
import torch.nn as nn
import torch.nn.functional as F

from ..errors import InvalidArgumentError
from .inference import model_and_info, prepare_batch
from .learners import CompactCNN, CompactUNet
from .prep import ArrayItem, load_image

__all__ = ["gradcam", "GradCAM", "top_losses", "show_gradcam", "show_top_losses", "default_cam_layer",
           "fraction_in_box"]


@dataclass
class GradCAM:
    """A Grad-CAM result.

    Attributes
    ----------
    heatmap
        float32 (size, size) in [0, 1], aligned with ``image``.
    image
        The model's input before normalisation: float32 (C, size, size), windowed to [0, 1].
    target, target_name
        The class explained.
    probabilities
        The model's class probabilities for this image.
    """

    heatmap: np.ndarray
    image: np.ndarray
    target: int
    target_name: str
    probabilities: np.ndarray
    item: str = ""


def default_cam_layer(model: nn.Module) -> nn.Module:
    """The layer Grad-CAM hooks by default: the encoder's last block.

    Examples
    --------
    >>> default_cam_layer(CompactCNN(1, 2)) is CompactCNN(1, 2).encoder.blocks[-1]
    False
    """
    if isinstance(model, (CompactCNN, CompactUNet)):
        return model.encoder.blocks[-1]
    if isinstance(model, nn.Sequential) and len(model) >= 2:
        return model[0]  # fastai: body, then head
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    if not convs:
        raise InvalidArgumentError("No convolutional layer found for Grad-CAM; pass layer=.")
    return convs[-1]


def _as_item(x: Any, learner: Any):
    if isinstance(x, np.ndarray):
        return ArrayItem(x, name="array")
    if isinstance(x, (int, np.integer)):
        from .record import dataset_info

        data = dataset_info(getattr(learner, "dls", None), derive=True)
        if data is None:
            raise InvalidArgumentError("An integer picks a validation case; that needs a learner with its DataLoaders.")
        return data.valid_records[int(x)].item
    return x


def gradcam(learner: Any, x: Any, target: Optional[Any] = None, layer: Optional[nn.Module] = None) -> GradCAM:
    """Grad-CAM heat map of one image for one class.

    Parameters
    ----------
    learner
        A radnb classifier (``Learner``) or a model from :func:`radnb.load_model`.
    x
        A file path, a 2-D array (physical units), or an integer = index into the
        learner's validation set.
    target
        Class index or name to explain; default: the predicted class.
    layer
        Module whose output is explained; default :func:`default_cam_layer`.

    Returns
    -------
    GradCAM

    Examples
    --------
    >>> import numpy as np, radnb.train as rt
    >>> x = np.random.default_rng(0).normal(0, 100, (12, 32, 32)).astype("float32")
    >>> learn = rt.classifier(rt.classification_dls(x, label=["normal", "opacity"] * 6, patient=range(12)), arch="compact")
    >>> cam = gradcam(learn, 0)   # the first validation image
    >>> cam.heatmap.shape, 0.0 <= float(cam.heatmap.min()) <= float(cam.heatmap.max()) <= 1.0
    ((32, 32), True)
    """
    model, info = model_and_info(learner)
    if info.kind != "classifier":
        raise InvalidArgumentError("Grad-CAM here explains classifiers; for a segmenter look at its predicted mask.")
    prep = info.prep
    item = _as_item(x, learner)
    from .evaluate import _learner_cache

    image = load_image(item, prep, _learner_cache(learner))
    layer = layer or default_cam_layer(model)
    inp = prepare_batch([image], prep, next(model.parameters()).device)
    inp.requires_grad_(True)  # so gradients flow even through a frozen encoder
    store = {}

    def hook(_module, _inputs, output):
        out = output[-1] if isinstance(output, (list, tuple)) else output
        store["act"] = out
        out.register_hook(lambda g: store.__setitem__("grad", g))

    handle = layer.register_forward_hook(hook)
    was_training = model.training
    model.eval()
    try:
        with torch.enable_grad():
            logits = model(inp).float()
            probs = (torch.sigmoid(logits) if info.multilabel else torch.softmax(logits, dim=1))[0]
            vocab = list(info.vocab)
            if target is None:
                t = int(probs.argmax())
            elif isinstance(target, str):
                if target not in vocab:
                    raise InvalidArgumentError(f"target {target!r} is not one of {vocab}.")
                t = vocab.index(target)
            else:
                t = int(target)
            model.zero_grad(set_to_none=True)
            logits[0, t].backward()
    finally:
        handle.remove()
        model.train(was_training)
    act, grad = store["act"].detach(), store["grad"].detach()
    weights = grad.mean(dim=(2, 3), keepdim=True)
    cam = F.relu((weights * act).sum(dim=1, keepdim=True))
    cam = F.interpolate(cam, size=image.shape[-2:], mode="bilinear", align_corners=False)[0, 0]
    cam = cam - cam.min()
    cam = cam / cam.max() if float(cam.max()) > 0 else cam
    return GradCAM(cam.cpu().numpy().astype(np.float32), image, t, vocab[t], probs.detach().cpu().numpy(), str(item))


def fraction_in_box(heatmap: Any, box: Sequence[int]) -> float:
    """Share of a heat map's total mass inside a rectangle (0 to 1; 0 for an all-zero map).

    ``box`` is ``(top, bottom, left, right)`` in pixels, ends excluded, i.e. the
    region ``heatmap[top:bottom, left:right]``. A Grad-CAM whose mass sits mostly in
    a corner that holds a burned-in marker, not in the lungs, reveals a shortcut.

    Examples
    --------
    >>> h = np.zeros((4, 4)); h[0, 3] = 3.0; h[2, 1] = 1.0
    >>> fraction_in_box(h, (0, 2, 2, 4))
    0.75
    """
    h = np.asarray(heatmap, dtype=np.float64)
    if h.ndim != 2:
        raise InvalidArgumentError(f"fraction_in_box expects a 2-D heat map, got shape {h.shape}.")
    top, bottom, left, right = (int(v) for v in box)
    total = float(h.sum())
    if total <= 0:
        return 0.0
    return float(h[top:bottom, left:right].sum() / total)


def top_losses(learner: Any, k: int = 9) -> pd.DataFrame:
    """The ``k`` validation cases with the highest loss: item, patient, label, prediction, probability, loss.

    fastai's ``ClassificationInterpretation`` ranks the validation set by the learner's own loss
    (cross-entropy, focal, weighted: whatever it trains with); the probabilities of the ``k`` cases
    shown come from :func:`radnb.train.inference.item_probabilities`, the path :func:`radnb.predict`
    and :func:`radnb.evaluate` use. A thin wrapper: it adds radnb's table (patient, class names,
    ``valid_index`` for :func:`gradcam`) to fastai's ranking.

    Examples
    --------
    >>> import radnb.train as rt
    >>> x = np.random.default_rng(0).normal(0, 100, (8, 32, 32)).astype("float32")
    >>> learn = rt.classifier(rt.classification_dls(x, label=[0, 1] * 4, patient=range(8), windows="auto", size=32), arch="compact")
    >>> worst = top_losses(learn, k=2)
    >>> len(worst), bool(worst.loss.is_monotonic_decreasing)
    (2, True)
    """
    from fastai.interpret import ClassificationInterpretation

    from .evaluate import _scores
    from .record import dataset_info

    dls = getattr(learner, "dls", None)
    if dls is None:
        raise InvalidArgumentError("top_losses needs a learner with its DataLoaders (radnb's, or fastai's).")
    _, info = model_and_info(learner)
    if info.kind != "classifier" or info.multilabel:
        raise InvalidArgumentError("top_losses works for single-label classifiers.")
    data = dataset_info(dls, derive=True)
    with learner.no_bar():
        interp = ClassificationInterpretation.from_learner(learner)
    losses, order = interp.top_losses(min(int(k), len(data.valid_idx)))
    order = [int(i) for i in order]
    records = [data.valid_records[i] for i in order]
    probs, _ = _scores(learner, dls, data, records, whole_cases=False)
    if data.origin == "fastai":  # fastai's own loaders are scored whole, in validation order
        probs = probs[order]
    vocab = list(info.vocab)
    y = np.array([vocab.index(str(r.label)) for r in records], dtype=int)
    probs = probs.reshape(len(records), len(vocab))
    return pd.DataFrame({"item": [str(r.item) for r in records], "patient": [str(r.patient) for r in records],
                         "label": [vocab[i] for i in y], "prediction": [vocab[i] for i in probs.argmax(1)],
                         "probability": probs.max(1), "prob_of_label": probs[np.arange(len(y)), y],
                         "loss": losses.float().cpu().numpy(), "valid_index": np.array(order, dtype=int)})


def _viewers():
    try:
        from .. import viewers

        return viewers
    except Exception:
        return None


def _matplotlib_overlays(cams: Sequence[GradCAM], titles: Sequence[str], columns: int = 4):
    import matplotlib.pyplot as plt

    n = len(cams)
    cols = min(columns, n)
    rows = (n + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(3 * cols, 3 * rows), squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    for ax, cam, title in zip(axes.ravel(), cams, titles):
        ax.imshow(cam.image[0], cmap="gray", vmin=0, vmax=1)
        ax.imshow(cam.heatmap, cmap="inferno", alpha=0.45, vmin=0, vmax=1)
        ax.set_title(title, fontsize=8)
    fig.tight_layout()
    return fig


def show_gradcam(learner: Any, x: Any, target: Optional[Any] = None, *, static: bool = False):
    """Show Grad-CAM overlays: one image in ``radnb.compare`` (image | heat map), several in a matplotlib grid.

    ``x`` is one item (path, array, validation index) or a list of them.
    Returns the viewer widget or the matplotlib figure.

    Examples
    --------
    >>> import numpy as np, radnb.train as rt
    >>> x = np.random.default_rng(0).normal(0, 100, (12, 32, 32)).astype("float32")
    >>> learn = rt.classifier(rt.classification_dls(x, label=["normal", "opacity"] * 6, patient=range(12)), arch="compact")
    >>> type(show_gradcam(learn, 0)).__name__, type(show_gradcam(learn, [0, 1])).__name__
    ('SliceViewer', 'Figure')
    """
    many = isinstance(x, (list, tuple))
    items = list(x) if many else [x]
    cams = [gradcam(learner, it, target) for it in items]
    titles = [f"{c.target_name} {c.probabilities[c.target]:.2f}" for c in cams]
    viewers = _viewers()
    if not many and viewers is not None and not static:
        try:
            return viewers.compare(cams[0].image[0], heatmap=cams[0].heatmap, titles=["image", f"Grad-CAM: {titles[0]}"])
        except Exception:
            pass
    return _matplotlib_overlays(cams, titles)


def show_top_losses(learner: Any, k: int = 9, *, with_gradcam: bool = True, static: bool = False):
    """Show the ``k`` worst validation cases (label, prediction, probability), with Grad-CAM overlays.

    Uses ``radnb.gallery`` when the viewers are available (images only) and a
    matplotlib grid with heat maps otherwise or when ``with_gradcam`` is set.

    Examples
    --------
    >>> import numpy as np, radnb.train as rt
    >>> x = np.random.default_rng(0).normal(0, 100, (12, 32, 32)).astype("float32")
    >>> learn = rt.classifier(rt.classification_dls(x, label=["normal", "opacity"] * 6, patient=range(12)), arch="compact")
    >>> g = show_top_losses(learn, k=2, with_gradcam=False)
    >>> type(g).__name__, all(c.startswith("label ") for c in g.captions)
    ('Gallery', True)
    """
    df = top_losses(learner, k)
    if with_gradcam:
        cams = [gradcam(learner, int(i)) for i in df.valid_index]
        titles = [f"{r.label} → {r.prediction} ({r.probability:.2f})" for r in df.itertuples()]
        return _matplotlib_overlays(cams, titles)
    viewers = _viewers()
    images = np.stack([load_image(_as_item(int(i), learner), model_and_info(learner)[1].prep)[0] for i in df.valid_index])
    if viewers is not None:
        return viewers.gallery(images, classes=list(df.label), predictions=list(df.prediction),
                               probabilities=list(df.probability), static=static)
    return _matplotlib_overlays([GradCAM(np.zeros_like(im), im[None], 0, "", np.ones(1)) for im in images],
                                [f"{r.label} → {r.prediction}" for r in df.itertuples()])
