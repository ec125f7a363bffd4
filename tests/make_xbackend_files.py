"""Save every registered model (small config) under the current backend.

Writes ``<dir>/<backend>/<model>.keras`` and ``<model>.npz`` (a fixed input and
this backend's output on it). The cross-backend tests load these files under
the other backends. Usage: ``KERAS_BACKEND=jax python tests/make_xbackend_files.py``.
"""

import os
import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).parent))

import numpy as np  # noqa: E402

from model_specs import sample_input, small_model, xbackend_dir  # noqa: E402


def main():
    import keras

    import keras_ecg

    backend = keras.backend.backend()
    out = xbackend_dir() / backend
    out.mkdir(parents=True, exist_ok=True)
    for name in keras_ecg.list_models():
        keras.utils.set_random_seed(0)
        model = small_model(name)
        x = sample_input(name)
        y = keras.ops.convert_to_numpy(model(x, training=False))
        tmp = out / f".{name}.keras.tmp.keras"
        model.save(tmp)
        np.savez(out / f".{name}.npz.tmp.npz", x=x, y=y)
        os.replace(out / f".{name}.npz.tmp.npz", out / f"{name}.npz")
        os.replace(tmp, out / f"{name}.keras")
    (out / "DONE").write_text("ok")
    print(f"saved {len(keras_ecg.list_models())} models to {out}")


if __name__ == "__main__":
    main()
