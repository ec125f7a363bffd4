"""One worker thread for a service process's heavy work: live streams' beats batched into one model call.

    queue = HeavyQueue(lock)                    # the lock any other heavy work of the process holds
    messages = await queue.beats(key, classify, prepare, finish)     # a stream's turn (async)
    results = queue.call(predict_paths, ...)    # /v1/predict's work, in turn with the streams' (blocking)

A job is three functions run in the worker thread, one job after another (never two at once, and never
while another holder of ``lock`` works: the process runs one heavy job at a time, so its event loop stays
free for the network): ``prepare()`` gives ``(meta, inputs)`` (the model inputs of some beats, or None),
the inputs of every job waiting for the same ``key`` (the model) are joined and classified by one call of
``classify(inputs)``, and ``finish(meta, outputs)`` turns each job's rows into its answer. The more streams
wait, the larger the batch: under load a stream's samples pile up between two of its jobs, and its next
job takes them all at once (:mod:`keras_ecg.serve.stream`).
"""

from __future__ import annotations

import asyncio
import dataclasses
import queue
import threading

import numpy as np


@dataclasses.dataclass
class _Job:
    key: object
    classify: object
    prepare: object
    finish: object
    loop: object
    future: object
    meta: object = None
    inputs: object = None


class HeavyQueue:
    """The worker thread and its queue (see the module doc); started on first use."""

    def __init__(self, lock=None):
        self.lock = lock or threading.Lock()
        self._q = queue.SimpleQueue()
        self._thread = None
        self._start = threading.Lock()
        self.calls = 0  # model calls made
        self.beats_classified = 0

    def call(self, fn, *args, **kwargs):
        """``fn(*args, **kwargs)`` run in the worker thread, in turn with the streams' jobs; blocks the calling
        thread (a synchronous endpoint's, in the server's thread pool) until it is done, and returns its value."""
        import concurrent.futures

        fut = concurrent.futures.Future()
        self._ensure()
        self._q.put(_Job(None, None, lambda: (fn(*args, **kwargs), None), lambda value, _: value, None, fut))
        return fut.result()

    async def beats(self, key, classify, prepare, finish):
        """Run ``prepare``, ``classify`` (batched with other jobs of ``key``) and ``finish`` in the worker."""
        loop = asyncio.get_running_loop()
        fut = loop.create_future()
        self._ensure()
        self._q.put(_Job(key, classify, prepare, finish, loop, fut))
        return await fut

    def _ensure(self):
        with self._start:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._work, name="keras-ecg-heavy", daemon=True)
                self._thread.start()

    def _work(self):
        while True:
            jobs = [self._q.get()]
            while True:
                try:
                    jobs.append(self._q.get_nowait())
                except queue.Empty:
                    break
            with self.lock:
                self._run(jobs)

    def _run(self, jobs):
        groups = {}
        for j in jobs:
            try:
                j.meta, j.inputs = j.prepare()
            except Exception as e:  # noqa: BLE001 - handed to the waiting coroutine
                _deliver(j, error=e)
                continue
            if j.inputs is None:
                self._finish(j, None)
            else:
                groups.setdefault(j.key, []).append(j)
        for js in groups.values():
            try:
                joined = [np.concatenate(parts) for parts in zip(*(j.inputs for j in js))]
                out = np.asarray(js[0].classify(joined), dtype=np.float64)
                self.calls += 1
                self.beats_classified += len(out)
            except Exception as e:  # noqa: BLE001
                for j in js:
                    _deliver(j, error=e)
                continue
            at = 0
            for j in js:
                m = len(j.inputs[0])
                self._finish(j, out[at:at + m])
                at += m

    @staticmethod
    def _finish(j, out):
        try:
            _deliver(j, value=j.finish(j.meta, out))
        except Exception as e:  # noqa: BLE001
            _deliver(j, error=e)


def _deliver(j, value=None, error=None):
    def put():  # in the event loop of the waiting coroutine (or here, for a thread waiting in call())
        if j.future.done():  # the stream went away
            return
        if error is not None:
            j.future.set_exception(error)
        else:
            j.future.set_result(value)

    if j.loop is None:
        return put()
    try:
        j.loop.call_soon_threadsafe(put)
    except RuntimeError:  # the event loop is closed
        pass
