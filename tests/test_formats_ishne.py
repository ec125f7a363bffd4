"""ISHNE Holter files: header checked (magic, CRC, counts, rate, length), samples in mV, read in ranges in bounded memory.

Files are written here by keras_ecg.data.formats.ishne.write from synthetic signals (the
ISHNE 1998 layout); the only identifiers are the made-up DOE^JANE's.
"""

import struct
import tracemalloc

import numpy as np
import pytest

from keras_ecg.data import chunked, record_file, synthetic, wfdb_io
from keras_ecg.data.formats import ishne
from keras_ecg.errors import DataError

pytestmark = pytest.mark.backend_free


def _crc_bitwise(data: bytes) -> int:
    """CRC-CCITT as the ISHNE standard states it (polynomial 0x1021, start 0xFFFF), bit by bit."""
    c = 0xFFFF
    for b in data:
        c ^= b << 8
        for _ in range(8):
            c = ((c << 1) ^ 0x1021) if c & 0x8000 else (c << 1)
            c &= 0xFFFF
    return c


def _record(seconds=120, fs=200.0, leads=("I", "V1", "V5"), seed=0):
    x, _, _ = synthetic.record(duration_s=seconds, fs=fs, seed=seed)
    sig = np.stack([x * (1.0 - 0.2 * i) for i in range(len(leads))], axis=1).astype(np.float32)
    return wfdb_io.Record("h", sig, fs, list(leads))


@pytest.fixture(scope="module")
def holter(tmp_path_factory):
    rec = _record()
    path = tmp_path_factory.mktemp("ishne") / "holter.ecg"
    ishne.write(path, rec, resolution_nv=2500, identifiers={"first_name": "JANE", "last_name": "DOE", "id": "MRN-0424242"})
    return path, rec


def test_crc_is_the_standards_crc_ccitt():
    assert ishne.crc(b"123456789") == 0x29B1 == _crc_bitwise(b"123456789")  # the CRC-16/CCITT-FALSE check value
    data = np.random.default_rng(0).integers(0, 256, 700).astype(np.uint8).tobytes()
    assert ishne.crc(data) == _crc_bitwise(data)


def test_ishne_reads_samples_in_mv_within_the_resolution(holter):
    path, rec = holter
    assert ishne.sniff(path.read_bytes()[:4096]) and not ishne.sniff(b"ISHNE2.0")
    back = ishne.read(path)
    assert back.fs == 200.0 and back.leads == ["I", "V1", "V5"] and back.signal.dtype == np.float32
    err = np.abs(back.signal - rec.signal)
    assert err.max() <= 2500e-6 / 2 + 1e-6 and err.max() > 2500e-6 / 20  # quantised to 2.5 uV
    assert back.start_time == "2000-01-01T00:00:00"


def test_ishne_ranges_are_the_whole_recordings_samples(holter):
    path, _ = holter
    whole = ishne.read(path).signal
    f = record_file.open_recording(path)
    assert f.n_samples == len(whole) and f.fs == 200.0
    assert np.array_equal(f.read(1000, 5000, [2]), whole[1000:5000, [2]])
    assert np.array_equal(f.read(-5, 10), whole[:10]) and f.read(len(whole) - 3, len(whole) + 100).shape == (3, 3)


def test_ishne_identifiers_only_when_asked(holter):
    path, _ = holter
    rec = ishne.read(path)
    text = repr({k: v for k, v in vars(rec).items() if not isinstance(v, np.ndarray)})
    assert "DOE" not in text and "JANE" not in text and "MRN" not in text and rec.identifiers is None
    ids = ishne.read(path, identifiers=True).identifiers
    assert ids["last_name"] == "DOE" and ids["first_name"] == "JANE" and ids["id"] == "MRN-0424242"


def _patched(path, tmp_path, offset, fmt, value, fix_crc=True):
    raw = bytearray(path.read_bytes())
    struct.pack_into(fmt, raw, offset, value)
    if fix_crc:
        var = struct.unpack_from("<i", raw, 10)[0]
        struct.pack_into("<H", raw, 8, ishne.crc(bytes(raw[10:522 + max(var, 0)])))
    out = tmp_path / "bad.ecg"
    out.write_bytes(bytes(raw))
    return out


# Offsets in the file (10 bytes of magic and CRC, then the fixed header): 10 variable block size, 14 samples
# per lead, 22 samples' offset, 156 number of leads, 206 first lead's resolution, 272 sampling rate.
@pytest.mark.parametrize("offset, fmt, value, message", [
    (272, "<h", 0, "not a positive finite number"),  # fs 0
    (272, "<h", 50, "outside the range"),  # 50 Hz: below what the filters need
    (272, "<h", -200, "not a positive"),
    (156, "<h", 0, "0 leads"),
    (156, "<h", 13, "13 leads"),
    (156, "<h", 2, "wrong lead or sample count"),  # the samples of 3 leads read as 2 would be garbage
    (14, "<i", 12000, "wrong lead or sample count"),
    (14, "<i", 10**8, "truncated"),
    (14, "<i", 1, "1 samples"),
    (206, "<h", 0, "resolution 0 nV"),
    (10, "<i", 10**6, "variable-length block"),
    (22, "<i", 100, "inside the header"),
])
def test_ishne_refuses_a_bad_header_in_one_line(holter, tmp_path, offset, fmt, value, message):
    path, _ = holter
    bad = _patched(path, tmp_path, offset, fmt, value)
    with pytest.raises(DataError, match=message) as e:
        ishne.read(bad)
    assert str(e.value).startswith(str(bad)) and "\n" not in str(e.value)


def test_ishne_refuses_a_bad_crc_truncation_and_annotation_files(holter, tmp_path):
    path, _ = holter
    bad = _patched(path, tmp_path, 128, "<h", 2, fix_crc=False)  # sex changed, CRC left
    with pytest.raises(DataError, match="CRC does not match"):
        ishne.read(bad)
    cut = tmp_path / "cut.ecg"
    cut.write_bytes(path.read_bytes()[:-7])
    with pytest.raises(DataError, match="truncated") as e:
        record_file.open_recording(cut)
    assert str(cut) in str(e.value)
    cut.write_bytes(path.read_bytes()[:300])
    with pytest.raises(DataError, match="truncated ISHNE header"):
        ishne.read(cut)
    ann = tmp_path / "holter.ann"
    ann.write_bytes(b"ANN  1.0" + path.read_bytes()[8:600])
    assert ishne.sniff(ann.read_bytes())
    with pytest.raises(DataError, match="annotation file"):
        ishne.read(ann)


def test_missing_samples_are_nan(tmp_path):
    rec = _record(seconds=10)
    rec.signal[50:60, 1] = np.nan
    back = ishne.read(ishne.write(tmp_path / "gap.ecg", rec))
    assert np.isnan(back.signal[50:60, 1]).all() and not np.isnan(back.signal[:, [0, 2]]).any()


def test_a_two_hour_file_is_read_in_ranges_in_bounded_memory(tmp_path):
    """A 2-hour 3-lead 200 Hz file read as annotate reads it (chunks with margins): peak allocations stay a
    small fraction of the whole recording's float32 size, whose reading in one piece is measured beside."""
    fs, hours = 200.0, 2
    one = _record(seconds=600, fs=fs)
    rec = wfdb_io.Record("long", np.tile(one.signal, (6 * hours, 1)), fs, one.leads)
    path = ishne.write(tmp_path / "long.ecg", rec, chunk=100_000)
    del rec, one
    f = record_file.open_recording(path)
    whole_bytes = f.n_samples * 3 * 4
    chunks = chunked.plan(f.n_samples, fs, chunk_s=600.0, margin_s=chunked.MARGIN_S)
    tracemalloc.start()
    try:
        total = 0.0
        for c in chunks:
            total += float(np.nansum(f.read(c.lo, c.hi, [0])))
            total += float(np.nansum(f.read(c.lo, c.hi, [0, 1, 2])))
        _, chunked_peak = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        whole = ishne.read(path).signal
        _, whole_peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert np.isfinite(total) and whole.shape == (f.n_samples, 3)
    assert whole_peak >= whole_bytes  # the measurement sees the samples it reads
    largest_read = max(c.hi - c.lo for c in chunks) * 3  # values of the largest range read
    assert chunked_peak < 12 * largest_read < 0.5 * whole_bytes, (chunked_peak, largest_read, whole_bytes)
