"""Long recordings: read in ranges, detected and cut in chunks, classified in batches, as in one piece.

``annotate`` reads and processes a recording ``chunk_s`` seconds at a time
(:mod:`keras_ecg.data.chunked`); these tests force small chunks so that a few minutes
of synthetic ECG cross many chunk edges, and compare with the one-piece path.
"""

import numpy as np
import pytest

from keras_ecg import cli
from keras_ecg.data import record_file, wfdb_io
from keras_ecg.errors import DataError


@pytest.fixture(scope="module")
def two_lead(tmp_path_factory):
    base = tmp_path_factory.mktemp("two_lead") / "rec"
    assert cli.main(["synth-record", str(base), "--minutes", "6", "--seed", "7", "--leads", "MLII,V1"]) == 0
    return base


def test_synth_record_writes_the_leads_asked_for(two_lead):
    import wfdb

    rec = wfdb.rdrecord(str(two_lead))
    assert rec.sig_name == ["MLII", "V1"] and rec.fs == 360 and rec.sig_len == 6 * 60 * 360
    mlii, v1 = rec.p_signal.T
    assert np.corrcoef(mlii, v1)[0, 1] > 0.9 and np.std(v1) < np.std(mlii)  # 0.6 x MLII plus its own noise
    with pytest.raises(SystemExit, match="distinct"):
        cli.main(["synth-record", str(two_lead.parent / "bad"), "--leads", "MLII,MLII"])


def test_record_file_reads_ranges_as_load_record_reads_the_whole(two_lead):
    whole = wfdb_io.load_record(two_lead, annotations=None)
    rec = record_file.open_recording(two_lead)
    assert (rec.name, rec.fs, rec.leads, rec.n_samples) == (whole.name, whole.fs, whole.leads, len(whole.signal))
    assert np.array_equal(rec.read(1000, 5000, [1]), whole.signal[1000:5000, [1]])
    assert np.array_equal(rec.read(-5, 10), whole.signal[:10])  # clipped to the recording
    assert np.array_equal(rec.signal, whole.signal) and np.array_equal(rec.lead("V1"), whole.signal[:, 1])


def test_a_corrupt_signal_file_is_refused_when_read_in_ranges(two_lead, tmp_path):
    for suffix in (".hea", ".dat"):
        (tmp_path / f"rec{suffix}").write_bytes(two_lead.with_suffix(suffix).read_bytes())
    dat = tmp_path / "rec.dat"
    raw = bytearray(dat.read_bytes())
    raw[40_000] ^= 0x10  # one sample changed: the header's checksum no longer holds
    dat.write_bytes(bytes(raw))
    with pytest.raises(DataError) as whole:
        wfdb_io.load_record(tmp_path / "rec", annotations=None)
    rec = record_file.open_recording(tmp_path / "rec")
    with pytest.raises(DataError) as chunks:
        for start in range(0, rec.n_samples, 10_800):  # 30 s pieces with 5 s before each, in order
            rec.read(start - 1800, start + 10_800, [0])
    assert str(chunks.value) == str(whole.value) and "checksum" in str(whole.value)
    dat.write_bytes(bytes(raw[:-10]))
    with pytest.raises(DataError, match="truncated"):
        record_file.open_recording(tmp_path / "rec")
