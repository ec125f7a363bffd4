"""Property-based fuzzing (Hypothesis): mutated WFDB headers, annotation files, CSVs of beats and image bytes
go through the loaders and predict. Each gives a result or one of the project's exceptions
(:class:`keras_ecg.KerasECGError`, one line), never anything else.

Bounded for CI: a fixed seed (``derandomize``), a few dozen examples per input kind, a deadline per example.
"""

import io
import pathlib
import tempfile

import numpy as np
import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from keras_ecg.data import mitbih  # noqa: E402
from keras_ecg.deploy import predict as P  # noqa: E402
from keras_ecg.errors import KerasECGError  # noqa: E402

FUZZ = settings(max_examples=30, deadline=10_000, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
WINDOW = 48


def _one_line_or_result(fn, *args, **kwargs):
    try:
        return fn(*args, **kwargs)
    except KerasECGError as e:
        assert str(e).strip() and "\n" not in str(e).strip(), repr(str(e))
        return None


@pytest.fixture(scope="module")
def record_files(tmp_path_factory):
    """The files of one small valid WFDB record (bytes by suffix)."""
    import wfdb

    from keras_ecg.data import synthetic

    d = tmp_path_factory.mktemp("rec")
    sig, peaks, labels = synthetic.record(duration_s=8, fs=360, seed=4)
    wfdb.wrsamp("r", fs=360, units=["mV"], sig_name=["MLII"], p_signal=sig[:, None].astype(np.float64),
                fmt=["212"], adc_gain=[200.0], baseline=[0], write_dir=str(d))
    wfdb.wrann("r", "atr", peaks, np.array(["N", "A", "V", "F", "Q"])[labels], write_dir=str(d))
    return {s: (d / f"r{s}").read_bytes() for s in (".hea", ".dat", ".atr")}


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    from keras_ecg import export, registry

    beat = tmp_path_factory.mktemp("beat")
    export(registry.build("cnn1d", (WINDOW, 1), 5, filters=(4,), dense_units=(4,)), beat, formats=("keras",),
           card={"class_names": list("NSVFQ"), "binary": False, "input_kind": "waveform", "model": "cnn1d",
                 "preprocessing": {"fs": 125, "before": 16, "after": WINDOW - 16, "leads": ["MLII"],
                                   "normalize": "zscore"}})
    page = tmp_path_factory.mktemp("page")
    export(registry.build("cnn2d", (16, 16, 3), 2, filters=(4,), dense_units=(4,), binary=True), page,
           formats=("keras",), card={"class_names": ["normal", "risky"], "binary": True, "input_kind": "image",
                                     "preprocessing": {"preprocess": "page", "image_size": 16}})
    return {"beat": P.load(beat), "page": P.load(page)}


def _mutate(data: bytes, edits) -> bytes:
    b = bytearray(data)
    for kind, pos, value in edits:
        if not b:
            b = bytearray(value)
            continue
        i = pos % len(b)
        if kind == "flip":
            b[i] = (b[i] ^ (value[0] if value else 0xFF)) or 1
        elif kind == "insert":
            b[i:i] = value
        elif kind == "delete":
            del b[i:i + max(1, len(value))]
        else:  # truncate
            del b[i:]
    return bytes(b)


EDITS = st.lists(st.tuples(st.sampled_from(["flip", "insert", "delete", "truncate"]), st.integers(0, 10**6),
                           st.binary(min_size=0, max_size=6)), min_size=1, max_size=4)
HEADER_TOKENS = st.sampled_from(["0", "-1", "360", "1e9", "nan", "212", "16", "999", "MLII", "x", "", "r.dat",
                                 "200(0)/mV", "3", "1000000000000"])


def _write_record(folder, files, **replace):
    for s, data in {**files, **replace}.items():
        (folder / f"r{s}").write_bytes(data)
    return folder / "r"


@FUZZ
@given(tokens=st.lists(st.tuples(st.integers(0, 30), HEADER_TOKENS), min_size=1, max_size=4))
def test_fuzz_wfdb_header(record_files, models, tokens):
    lines = [ln.split(" ") for ln in record_files[".hea"].decode().splitlines()]
    for pos, token in tokens:
        line = lines[pos % len(lines)]
        line[(pos // len(lines)) % len(line)] = token
    hea = "\n".join(" ".join(ln) for ln in lines).encode()
    with tempfile.TemporaryDirectory() as d:
        base = _write_record(pathlib.Path(d), record_files, **{".hea": hea})
        _one_line_or_result(mitbih.load_record, base)
        model, card = models["beat"]
        _one_line_or_result(P.predict_paths, model, card, [base])


@FUZZ
@given(edits=EDITS, which=st.sampled_from([".atr", ".dat", ".hea"]))
def test_fuzz_record_bytes(record_files, models, edits, which):
    with tempfile.TemporaryDirectory() as d:
        base = _write_record(pathlib.Path(d), record_files, **{which: _mutate(record_files[which], edits)})
        rec = _one_line_or_result(mitbih.load_record, base)
        if rec is not None and rec.ann_samples is not None:
            assert rec.ann_samples.min(initial=0) >= 0 and rec.ann_samples.max(initial=0) < len(rec.signal)
        model, card = models["beat"]
        _one_line_or_result(P.predict_paths, model, card, [base])


CELLS = st.one_of(st.floats(allow_nan=True, allow_infinity=True, width=32).map(repr),
                  st.sampled_from(["", "x", "1,2", " ", "nan", "-inf", "1e400", "0x10", '"3"']))


@FUZZ
@given(rows=st.lists(st.lists(CELLS, min_size=0, max_size=WINDOW + 2), min_size=0, max_size=4),
       valid=st.integers(0, 3))
def test_fuzz_csv_of_beats(models, rows, valid):
    text = io.StringIO()
    rng = np.random.default_rng(len(rows))
    for _ in range(valid):  # some well-formed rows, so the mutated ones meet a plausible file
        text.write(",".join(f"{v:.4f}" for v in rng.normal(size=WINDOW)) + "\n")
    for r in rows:
        text.write(",".join(r) + "\n")
    model, card = models["beat"]
    with tempfile.TemporaryDirectory() as d:
        csv = pathlib.Path(d) / "beats.csv"
        csv.write_text(text.getvalue())
        res = _one_line_or_result(P.predict_paths, model, card, [csv])
        if res is not None:
            for it in res[0]["items"]:
                assert np.isfinite(list(it["probabilities"].values())).all()


@pytest.fixture(scope="module")
def png_bytes():
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (40, 60, 3), dtype=np.uint8)).save(buf, "PNG")
    return buf.getvalue()


@FUZZ
@given(edits=EDITS, suffix=st.sampled_from([".png", ".jpg"]))
def test_fuzz_image_bytes(models, png_bytes, edits, suffix):
    model, card = models["page"]
    with tempfile.TemporaryDirectory() as d:
        f = pathlib.Path(d) / f"page{suffix}"
        f.write_bytes(_mutate(png_bytes, edits))
        res = _one_line_or_result(P.predict_paths, model, card, [f])
        if res is not None:
            assert 0.0 <= res[0]["risk"] <= 1.0
