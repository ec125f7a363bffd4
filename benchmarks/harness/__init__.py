"""The backend benchmark harness behind ``benchmarks/backends.py``.

- :mod:`settings`: backends, models, inputs, the keys every record has;
- :mod:`measure`: timing (repeats, latency, throughput), ONNX Runtime, machine facts;
- :mod:`workers`: the per-(backend, model) worker and the parent that spawns it;
- :mod:`report`: merging results, the target summary and the Markdown report;
- :mod:`chart`: the PNG chart.
"""
