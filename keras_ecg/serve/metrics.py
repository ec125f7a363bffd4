"""Counters and latency histograms in the Prometheus text exposition format (version 0.0.4), written plainly."""

from __future__ import annotations

import threading

BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


def _labels(d: dict) -> str:
    if not d:
        return ""
    esc = {k: str(v).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") for k, v in d.items()}
    return "{" + ",".join(f'{k}="{v}"' for k, v in sorted(esc.items())) + "}"


class Metrics:
    def __init__(self):
        self._lock = threading.Lock()
        self.counters = {}  # (name, labels tuple) -> value
        self.hist = {}  # (name, labels tuple) -> [bucket counts..., sum, count]
        self.help = {"keras_ecg_requests_total": ("counter", "HTTP requests by path, method and status"),
                     "keras_ecg_request_seconds": ("histogram", "HTTP request latency in seconds"),
                     "keras_ecg_predictions_total": ("counter", "inputs predicted, by model"),
                     "keras_ecg_beats_classified_total": ("counter", "beats classified, by model"),
                     "keras_ecg_errors_total": ("counter", "requests answered with an error, by kind")}

    def inc(self, name: str, value: float = 1, **labels) -> None:
        key = (name, tuple(sorted(labels.items())))
        with self._lock:
            self.counters[key] = self.counters.get(key, 0) + value

    def observe(self, name: str, seconds: float, **labels) -> None:
        key = (name, tuple(sorted(labels.items())))
        with self._lock:
            h = self.hist.setdefault(key, [0] * (len(BUCKETS) + 2))
            for i, b in enumerate(BUCKETS):
                if seconds <= b:
                    h[i] += 1
            h[-2] += seconds
            h[-1] += 1

    def render(self) -> str:
        with self._lock:
            counters, hist = dict(self.counters), {k: list(v) for k, v in self.hist.items()}
        lines = []
        for name, (kind, text) in self.help.items():
            lines += [f"# HELP {name} {text}", f"# TYPE {name} {kind}"]
            if kind == "counter":
                lines += [f"{name}{_labels(dict(lab))} {v:g}" for (n, lab), v in sorted(counters.items()) if n == name]
                continue
            for (n, lab), h in sorted(hist.items()):
                if n != name:
                    continue
                lab = dict(lab)
                lines += [f"{name}_bucket{_labels({**lab, 'le': f'{b:g}'})} {c}" for b, c in zip(BUCKETS, h)]
                lines += [f"{name}_bucket{_labels({**lab, 'le': '+Inf'})} {h[-1]}",
                          f"{name}_sum{_labels(lab)} {h[-2]:.6f}", f"{name}_count{_labels(lab)} {h[-1]}"]
        return "\n".join(lines) + "\n"
