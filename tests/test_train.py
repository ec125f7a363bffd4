"""Training loop: checkpoints every epoch, resume after an interruption, early
stopping with the best weights restored, class weights, CSV history.

In-process with the suite's backend; tiny synthetic data and models.
"""

import json
import os

import numpy as np
import pytest

from keras_ecg import training
from keras_ecg.training import runner

TINY = json.dumps({"filters": [4], "units": [4], "dense_units": [4], "dropout": 0.0})
CONFIG = {"name": "test_train", "task": "mitbih", "model": "cnn_lstm", "fs": 100, "rr_features": False, "template_beats": 0,
          "batch_size": 32, "synthetic_n": 16}


def _argv(out, *extra):
    return ["--backend", os.environ.get("KERAS_BACKEND", "tensorflow"), "--out", str(out), "--data", "synthetic",
            "--model-args", TINY, "--export", "none", "--verbose", "0", "--no-plots", *extra]


class Interrupt(Exception):
    pass


def _interrupt_after(epoch_index):
    import keras

    class Stop(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch == epoch_index:
                raise Interrupt(f"simulated crash after epoch {epoch + 1}")

    return Stop()


def test_resume_continues_from_last_checkpoint(tmp_path):
    out = tmp_path / "run"
    with pytest.raises(Interrupt):
        runner.main(CONFIG, _argv(out, "--epochs", "3", "--patience", "0"), callbacks=[_interrupt_after(0)])
    state = training.load_state(out)
    assert state["epoch"] == 0 and (out / "checkpoints" / "last.keras").exists()
    assert not (out / "report.json").exists()
    assert not [p for p in (out / "checkpoints").iterdir() if p.name.startswith(".")]  # no temp files left

    reports = runner.main(CONFIG, _argv(out, "--epochs", "3", "--patience", "0", "--resume"))
    extra = reports["cnn_lstm"]["extra"]
    assert extra["resumed"] is True and extra["epochs_run"] == 3
    rows = (out / "training_log.csv").read_text().strip().splitlines()
    assert [r.split(",")[0] for r in rows[1:]] == ["0", "1", "2"]
    assert training.load_state(out)["epoch"] == 2

    # resuming a finished run only re-evaluates
    again = runner.main(CONFIG, _argv(out, "--epochs", "3", "--patience", "0", "--resume"))
    assert again["cnn_lstm"]["extra"]["epochs_run"] == 3


def test_early_stopping_restores_best(tmp_path):
    out = tmp_path / "run"
    # learning rate 0 (and no batch norm) cannot improve val_loss: stops after `patience` epochs
    argv = _argv(out, "--epochs", "6", "--patience", "1", "--lr", "0", "--model", "lstm")
    argv[argv.index("--model-args") + 1] = json.dumps({"units": [4], "dense_units": [4], "dropout": 0.0})
    reports = runner.main(CONFIG, argv)
    extra = reports["lstm"]["extra"]
    assert extra["stopped_early"] is True and extra["epochs_run"] == 2 and extra["best_epoch"] == 1


def test_class_weights_and_history(tmp_path):
    w = training.class_weights(np.array([0, 0, 0, 1]), 3)
    assert w == {0: pytest.approx(4 / 9), 1: pytest.approx(4 / 3), 2: 1.0}
    json.dumps(w)
    assert training.class_weights(np.array([0, 0, 0, 1]), 3, "sqrt", cap=1.0) == {
        0: pytest.approx((4 / 9) ** 0.5), 1: 1.0, 2: 1.0}
    log = tmp_path / "log.csv"
    log.write_text("epoch,loss,val_loss\n0,1.5,1.6\n1,1.2,1.4\n")
    assert training.history_from_csv(log) == {"loss": [1.5, 1.2], "val_loss": [1.6, 1.4]}


def test_resolve_strategy(monkeypatch):
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    assert training.resolve_strategy("auto", "jax", 0) == "none"
    assert training.resolve_strategy("auto", "jax", 2) == "data_parallel"
    assert training.resolve_strategy("none", "tensorflow", 8) == "none"
    monkeypatch.setenv("WORLD_SIZE", "2")
    assert training.resolve_strategy("auto", "torch", 0) == "data_parallel"
    with pytest.raises(ValueError, match="unknown strategy"):
        training.resolve_strategy("mirrored", "jax", 0)


def test_mixed_precision_keeps_float32_head():
    import keras

    from keras_ecg import registry

    try:
        training.set_precision("mixed_bfloat16")
        model = training.ensure_float32_head(registry.build("cnn1d", (32, 1), 3, filters=(4,), dense_units=(4,)))
        assert str(model.outputs[0].dtype) == "float32"
        assert model.layers[1].dtype_policy.name == "mixed_bfloat16"
        with pytest.raises(ValueError, match="unknown precision"):
            training.set_precision("float8")
    finally:
        keras.mixed_precision.set_global_policy("float32")


def test_bn_momentum_override_reaches_wrapped_layers():
    from keras_ecg import registry

    model = registry.build("td_cnn", (3, 16, 16, 1), 2, filters=(4,), units=(4,), dense_units=(4,))
    n = training.set_bn_momentum(model, 0.9)
    import keras

    bns = [l for l in model._flatten_layers(include_self=False, recursive=True)
           if isinstance(l, keras.layers.BatchNormalization)]
    bns += [l.layer for l in model.layers if isinstance(getattr(l, "layer", None), keras.layers.BatchNormalization)]
    assert n == len(bns) and all(b.momentum == 0.9 for b in bns)
    model2 = registry.build("cnn1d", (32, 1), 3, filters=(4,), dense_units=(4,))
    assert training.set_bn_momentum(model2, 0.8) >= 1
    assert all(l.get_config()["momentum"] == 0.8 for l in model2.layers if isinstance(l, keras.layers.BatchNormalization))


def test_cosine_schedule_decays_the_learning_rate(tmp_path):
    """--lr-schedule cosine: the rate falls from --lr to 1 % of it over the run; constant keeps it."""
    import keras

    from keras_ecg.training.fit import TrainConfig, learning_rate

    cfg = TrainConfig(epochs=4, batch_size=10, learning_rate=0.01, lr_schedule="cosine")
    sched = learning_rate(cfg, 95)  # 10 steps an epoch, 40 in all
    rates = [float(keras.ops.convert_to_numpy(sched(step))) for step in (0, 20, 40, 80)]
    np.testing.assert_allclose(rates, [0.01, 0.00505, 0.0001, 0.0001], rtol=1e-4)
    assert learning_rate(TrainConfig(learning_rate=0.01), 95) == 0.01

    class Rate(keras.callbacks.Callback):
        seen = []

        def on_epoch_end(self, epoch, logs=None):
            opt = self.model.optimizer
            Rate.seen.append(float(keras.ops.convert_to_numpy(opt.learning_rate)))

    runner.main(CONFIG, _argv(tmp_path / "run", "--epochs", "3", "--lr", "0.01", "--lr-schedule", "cosine",
                             "--patience", "0"), callbacks=[Rate()])
    assert len(Rate.seen) == 3 and Rate.seen[0] > Rate.seen[1] > Rate.seen[2] and Rate.seen[2] < 0.002
