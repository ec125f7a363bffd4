"""Long recordings: read in ranges, detected and cut in chunks, classified in batches, as in one piece.

``annotate`` reads and processes a recording ``chunk_s`` seconds at a time
(:mod:`keras_ecg.data.chunked`); these tests force small chunks so that a few minutes
of synthetic ECG cross many chunk edges, and compare with the one-piece path.
"""

import numpy as np
import pytest

from keras_ecg import cli


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
