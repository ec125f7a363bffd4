"""Save every registered model (small config) and a model per custom layer
under the current backend.

Writes ``<dir>/<backend>/<model>.keras`` and ``<model>.npz`` (a fixed input and
this backend's output on it), and ``layer_<Layer>.keras``/``.npz`` likewise. The cross-backend tests load these files under
the other backends. Usage: ``KERAS_BACKEND=jax python tests/make_xbackend_files.py``.
"""

import os
import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).parent))

import numpy as np  # noqa: E402

from model_specs import (  # noqa: E402
    CUSTOM_LAYERS,
    layer_input,
    layer_model,
    sample_input,
    small_model,
    xbackend_dir,
)


def _save(out, name, model, x):
    import keras

    y = keras.ops.convert_to_numpy(model(x, training=False))
    tmp = out / f".{name}.keras.tmp.keras"
    model.save(tmp)
    np.savez(out / f".{name}.npz.tmp.npz", x=x, y=y)
    os.replace(out / f".{name}.npz.tmp.npz", out / f"{name}.npz")
    os.replace(tmp, out / f"{name}.keras")


def main():
    import keras

    import keras_ecg

    backend = keras.backend.backend()
    out = xbackend_dir() / backend
    out.mkdir(parents=True, exist_ok=True)
    for name in keras_ecg.list_models():
        keras.utils.set_random_seed(0)
        _save(out, name, small_model(name), sample_input(name))
    for name in CUSTOM_LAYERS:
        keras.utils.set_random_seed(0)
        _save(out, f"layer_{name}", layer_model(name), layer_input(name))
    (out / "DONE").write_text("ok")
    print(f"saved {len(keras_ecg.list_models())} models and {len(CUSTOM_LAYERS)} layer models to {out}")


if __name__ == "__main__":
    main()
