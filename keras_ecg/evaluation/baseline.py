"""A classical heartbeat classifier to report deep models against.

After de Chazal et al. 2004 (RR intervals and sampled morphology, linear
discriminant) and Mondéjar-Guerra et al. 2019 (normalised RR, SVM), on the beat
inputs of :func:`keras_ecg.data.beats.beat_inputs`: ``beats`` (n, window,
leads), z-scored per beat with the R peak at sample ``before``, and ``rr``
(n, 8), the RR features of :mod:`keras_ecg.data.rr`, as logs when
``rr_log`` (the default, as :class:`~keras_ecg.data.beats.BeatSpec`).

Features (:func:`features`), all from one beat and its RR features:

- the log of the 8 RR features (intervals in s and their ratios to the
  patient's causal baseline): ``rr`` as given when ``rr_log``, else its log;
- per lead, the beat's morphology as 20 means over consecutive bins relative
  to the R peak: 5 over the P wave (-250..-50 ms), 8 over the QRS
  (-50..+100 ms), 7 over the T wave (+100..+450 ms); bins outside the window
  repeat its edge sample;
- per lead, 7 QRS figures within +-100 ms of the R peak: the amplitude at the
  R peak, the maximum and minimum and their times from the R peak (s), the
  width (s) over which the absolute amplitude is above half its maximum, and
  the energy (mean square, -50..+100 ms).

No wavelet coefficients (PyWavelets is not a dependency). :class:`FeatureBaseline`
standardises the features and fits a linear discriminant (``"lda"``, shrinkage
chosen by the Ledoit-Wolf formula; ``class_weight="balanced"`` means equal
priors), an RBF SVM (``"svm"``, probabilities by Platt scaling fitted on 3-fold
cross-validated decision values) or a logistic
regression (``"logreg"``). scikit-learn is imported when a model is built
(``pip install keras-ecg[all]``); the features need NumPy only.
"""

from __future__ import annotations

import pickle

import numpy as np

from keras_ecg import _atomic
from keras_ecg.errors import DataError

KINDS = ("lda", "svm", "logreg")
N_RR = 8
MORPHOLOGY_BINS = ((-0.25, -0.05, 5), (-0.05, 0.10, 8), (0.10, 0.45, 7))  # (start s, end s, bins)
QRS_S = 0.10
_FORMAT = "keras_ecg.FeatureBaseline"
_VERSION = 1


def _sklearn():
    try:
        import sklearn  # noqa: F401
    except ImportError as e:
        raise ImportError("the classical baseline needs scikit-learn: pip install keras-ecg[all]") from e
    return sklearn


def check_inputs(beats, rr, y=None, rr_log: bool = True):
    """``beats`` as (n, window, leads) float64, ``rr`` as (n, 8) float64; one-line DataError otherwise."""
    b = np.asarray(beats, dtype=np.float64)
    if b.ndim == 2:
        b = b[:, :, None]
    if b.ndim != 3:
        raise DataError(f"baseline: beats must be (n, window, leads); got shape {b.shape}.")
    r = np.asarray(rr, dtype=np.float64)
    if r.ndim != 2 or r.shape[1] != N_RR:
        raise DataError(f"baseline: rr must be (n, {N_RR}) RR features; got shape {r.shape}.")
    if len(b) != len(r):
        raise DataError(f"baseline: {len(b)} beats but {len(r)} rows of RR features.")
    if y is not None and len(y) != len(b):
        raise DataError(f"baseline: {len(b)} beats but {len(y)} labels.")
    if not (np.isfinite(b).all() and np.isfinite(r).all()):
        raise DataError("baseline: beats or rr hold non-finite values.")
    if not rr_log and (r <= 0).any():
        raise DataError("baseline: RR features must be > 0 (intervals and their ratios; "
                        "pass rr_log=True if they are logs already).")
    return b, r


def _bin_means(x, before, fs):
    """(n, 20, leads) means of ``x`` over the bins of ``MORPHOLOGY_BINS``."""
    n, w, _ = x.shape
    c = np.concatenate([np.zeros((n, 1, x.shape[2])), np.cumsum(x, axis=1)], axis=1)
    out = []
    for start, end, bins in MORPHOLOGY_BINS:
        edges = before + np.round(np.linspace(start, end, bins + 1) * fs).astype(int)
        for a, b in zip(edges[:-1], edges[1:]):
            a, b = int(np.clip(a, 0, w - 1)), int(np.clip(b, 1, w))
            b = max(b, a + 1)
            out.append((c[:, b] - c[:, a]) / (b - a))
    return np.stack(out, axis=1)


def _qrs(x, before, fs):
    """(n, 7, leads) QRS figures (see the module doc)."""
    w = x.shape[1]
    half = int(round(QRS_S * fs))
    lo, hi = max(before - half, 0), min(before + half + 1, w)
    seg = x[:, lo:hi]
    t = (np.arange(lo, hi) - before) / fs
    r_amp = x[:, min(before, w - 1)]
    mx, mn = seg.max(axis=1), seg.min(axis=1)
    t_max, t_min = t[seg.argmax(axis=1)], t[seg.argmin(axis=1)]
    a = np.abs(seg)
    width = (a > 0.5 * a.max(axis=1, keepdims=True)).sum(axis=1) / fs
    e_lo, e_hi = max(before - int(round(0.05 * fs)), 0), min(before + half + 1, w)
    energy = (x[:, e_lo:e_hi] ** 2).mean(axis=1)
    return np.stack([r_amp, mx, t_max, mn, t_min, width, energy], axis=1)


def features(beats, rr, fs: float = 360.0, before: int | None = None, rr_log: bool = True) -> np.ndarray:
    """(n, 8 + 27 * leads) float64 feature matrix of beats (see the module doc)."""
    b, r = check_inputs(beats, rr, rr_log=rr_log)
    before = int(round(0.25 * fs)) if before is None else int(before)
    if not 0 <= before < b.shape[1]:
        raise DataError(f"baseline: the R peak (sample {before}) is outside the {b.shape[1]}-sample window.")
    morph = _bin_means(b, before, fs)
    qrs = _qrs(b, before, fs)
    per_lead = np.concatenate([morph, qrs], axis=1)  # (n, 27, leads)
    return np.concatenate([r if rr_log else np.log(r), per_lead.transpose(0, 2, 1).reshape(len(b), -1)], axis=1)


class FeatureBaseline:
    """Hand-crafted features (:func:`features`) + a scikit-learn classifier.

    Args:
        kind: ``"lda"``, ``"svm"`` or ``"logreg"``.
        class_weight: ``"balanced"`` (equal priors for ``"lda"``) or None.
        fs, before: the beats' rate and the R peak's sample in the window
            (default ``round(0.25 * fs)``, as :class:`~keras_ecg.data.beats.BeatSpec`).
        rr_log: whether ``rr`` holds the logs of the RR features (BeatSpec's
            ``rr_log``, the default) or the features themselves.
        C: regularisation of ``"svm"`` and ``"logreg"``.
        max_per_class: if set, ``fit`` uses at most this many beats of each
            class, drawn at random with ``random_state`` (an RBF SVM on every
            normal beat is slow).
        random_state: seed of that draw.
    """

    def __init__(self, kind: str = "lda", class_weight="balanced", fs: float = 360.0, before: int | None = None,
                 C: float = 1.0, max_per_class: int | None = None, random_state: int = 0, rr_log: bool = True):
        if kind not in KINDS:
            raise ValueError(f"baseline: kind must be one of {KINDS}; got {kind!r}.")
        if class_weight not in ("balanced", None):
            raise ValueError(f"baseline: class_weight must be 'balanced' or None; got {class_weight!r}.")
        if fs <= 0 or C <= 0 or (max_per_class is not None and max_per_class < 1):
            raise ValueError(f"baseline: fs and C must be > 0 and max_per_class >= 1; got fs={fs}, C={C}, "
                             f"max_per_class={max_per_class}.")
        self.kind, self.class_weight, self.fs, self.C = kind, class_weight, float(fs), float(C)
        self.before = int(round(0.25 * fs)) if before is None else int(before)
        self.max_per_class, self.random_state, self.rr_log = max_per_class, int(random_state), bool(rr_log)
        self.model = None

    def params(self) -> dict:
        return {"kind": self.kind, "class_weight": self.class_weight, "fs": self.fs, "before": self.before,
                "C": self.C, "max_per_class": self.max_per_class, "random_state": self.random_state,
                "rr_log": self.rr_log}

    def _estimator(self, n_classes):
        _sklearn()
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        if self.kind == "lda":
            from sklearn.discriminant_analysis import LinearDiscriminantAnalysis

            priors = np.full(n_classes, 1.0 / n_classes) if self.class_weight == "balanced" else None
            clf = LinearDiscriminantAnalysis(solver="lsqr", shrinkage="auto", priors=priors)
        elif self.kind == "svm":
            from sklearn.calibration import CalibratedClassifierCV
            from sklearn.svm import SVC

            svc = SVC(C=self.C, kernel="rbf", gamma="scale", class_weight=self.class_weight)
            clf = CalibratedClassifierCV(svc, method="sigmoid", cv=3, ensemble=False)
        else:
            from sklearn.linear_model import LogisticRegression

            clf = LogisticRegression(C=self.C, class_weight=self.class_weight, max_iter=3000)
        return make_pipeline(StandardScaler(), clf)

    def _features(self, beats, rr):
        return features(beats, rr, self.fs, self.before, self.rr_log)

    def fit(self, beats, rr, y) -> "FeatureBaseline":
        y = np.asarray(y)
        if y.ndim != 1 or len(y) != len(beats):
            raise DataError(f"baseline: {len(beats)} beats but labels of shape {y.shape}.")
        x = self._features(beats, rr)
        classes = np.unique(y)
        if len(classes) < 2:
            raise DataError(f"baseline: fit needs at least two classes; got {classes.tolist()}.")
        if self.max_per_class is not None:
            rng = np.random.default_rng(self.random_state)
            pick = [rng.permutation(np.flatnonzero(y == c))[: self.max_per_class] for c in classes]
            idx = np.sort(np.concatenate(pick))
            x, y = x[idx], y[idx]
        self.model = self._estimator(len(classes)).fit(x, y)
        return self

    @property
    def classes_(self) -> np.ndarray:
        if self.model is None:
            raise DataError("baseline: the model is not fitted yet; call fit first.")
        return self.model.classes_

    def predict_proba(self, beats, rr) -> np.ndarray:
        """(n, classes) probabilities, columns in the order of ``classes_``."""
        classes = self.classes_
        x = self._features(beats, rr)
        if len(x) == 0:
            return np.zeros((0, len(classes)))
        return self.model.predict_proba(x)

    def predict(self, beats, rr) -> np.ndarray:
        """The class of highest probability (for ``"svm"`` this can differ from SVC's own vote)."""
        p = self.predict_proba(beats, rr)
        return self.classes_[np.argmax(p, axis=1)] if len(p) else self.classes_[:0]

    def save(self, path):
        """Pickle the fitted model to ``path`` atomically."""
        if self.model is None:
            raise DataError("baseline: nothing to save; call fit first.")
        import sklearn

        blob = {"format": _FORMAT, "version": _VERSION, "params": self.params(), "model": self.model,
                "sklearn": sklearn.__version__}
        return _atomic.write_bytes(path, pickle.dumps(blob, protocol=pickle.HIGHEST_PROTOCOL))

    @classmethod
    def load(cls, path) -> "FeatureBaseline":
        """Load a model written by :meth:`save`.

        This unpickles the file, which can run arbitrary code: load only files
        you trust (your own). The scikit-learn version should match the one
        that saved it (stored as ``sklearn`` in the file).
        """
        _sklearn()
        with open(path, "rb") as f:
            blob = pickle.load(f)
        if not isinstance(blob, dict) or blob.get("format") != _FORMAT:
            raise DataError(f"{path}: not a saved FeatureBaseline.")
        if blob.get("version") != _VERSION:
            raise DataError(f"{path}: FeatureBaseline format version {blob.get('version')}; this code reads {_VERSION}.")
        out = cls(**blob["params"])
        out.model = blob["model"]
        return out
