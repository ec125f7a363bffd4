"""Pictures of attributions: Grad-CAM over a page or its lead panels, attribution curves over beats.

matplotlib is imported inside (through :mod:`keras_ecg.evaluation.plots`); every PNG is written atomically.
"""

from __future__ import annotations

import math

import numpy as np

from keras_ecg.evaluation import plots as P

__all__ = ["draw_image", "draw_panels", "draw_beats"]


def _gray(a):
    a = np.asarray(a, dtype=np.float64)
    lo, hi = a.min(), a.max()
    a = (a - lo) / (hi - lo) if hi > lo else np.zeros_like(a)
    return (a[..., :3], None) if a.shape[-1] >= 3 else (a[..., 0], "gray")


def _overlay(ax, image, cam):
    im, cmap = _gray(image)
    ax.imshow(im, cmap=cmap, aspect="auto")
    ax.imshow(cam, cmap="jet", alpha=0.4, vmin=0, vmax=1, aspect="auto")
    ax.set_xticks([])
    ax.set_yticks([])


def draw_image(path, image, cam, title: str) -> None:
    """The page and its Grad-CAM map overlaid, side by side."""
    plt = P.pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(8, 4.2))
    im, cmap = _gray(image)
    axes[0].imshow(im, cmap=cmap, aspect="auto")
    axes[0].set_xticks([])
    axes[0].set_yticks([])
    axes[0].set_title("input", fontsize=8)
    _overlay(axes[1], image, cam)
    axes[1].set_title("Grad-CAM (red: drove the decision)", fontsize=8)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    P._save_fig(fig, path)


def draw_panels(path, panels, cams, title: str, names=None) -> None:
    """Every lead panel with its Grad-CAM map overlaid; the panel's share of the map in its title."""
    plt = P.pyplot()
    n = len(panels)
    cols = min(4, n)
    rows = math.ceil(n / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(2.6 * cols, 1.5 * rows + 0.6), squeeze=False)
    share = cams.reshape(n, -1).sum(1) / max(float(cams.sum()), 1e-12)
    for ax in axes.ravel():
        ax.set_visible(False)
    for i in range(n):
        ax = axes.ravel()[i]
        ax.set_visible(True)
        _overlay(ax, panels[i], cams[i])
        name = names[i] if names is not None and i < len(names) else f"panel {i + 1}"
        ax.set_title(f"{name}: {share[i]:.0%}", fontsize=7)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    P._save_fig(fig, path)


def draw_beats(path, beats, attributions, titles, fs: float, before: int = 0, method: str = "ig") -> None:
    """Each beat (first channel) with its attribution as a filled curve (red: for the class, blue: against)."""
    plt = P.pyplot()
    n = len(beats)
    cols = min(3, n)
    rows = math.ceil(n / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 2.6 * rows), squeeze=False)
    for ax in axes.ravel():
        ax.set_visible(False)
    for i in range(n):
        ax = axes.ravel()[i]
        ax.set_visible(True)
        x, a = np.asarray(beats[i])[:, 0], np.asarray(attributions[i]).sum(axis=-1)
        t = (np.arange(len(x)) - before) / fs
        scale = np.abs(a).max() or 1.0
        span = (x.max() - x.min()) or 1.0
        base = x.min() - 0.15 * span
        curve = base + 0.5 * span * a / scale
        ax.fill_between(t, base, curve, where=a >= 0, color="#d62020", alpha=0.45, linewidth=0)
        ax.fill_between(t, base, curve, where=a < 0, color="#1f5fd6", alpha=0.45, linewidth=0)
        if np.asarray(beats[i]).shape[-1] > 1:
            ax.plot(t, np.asarray(beats[i])[:, 1], color="#999999", linewidth=0.8, linestyle="--",
                    label="second channel")
        ax.plot(t, x, color="black", linewidth=1.0)
        ax.axvline(0.0, color="#888888", linewidth=0.5, linestyle=":")
        ax.set_title(titles[i], fontsize=7)
        ax.set_xlabel("s from R peak", fontsize=7)
        ax.tick_params(labelsize=6)
        ax.set_yticks([])
    fig.suptitle(f"{'integrated gradients' if method == 'ig' else method}: red pushes towards the class, "
                 "blue away", fontsize=8)
    fig.tight_layout()
    P._save_fig(fig, path)
