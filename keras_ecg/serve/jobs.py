"""Heavy requests (predict, annotate, explain) one at a time per worker, each within a time limit.

:meth:`Jobs.run` runs a job in a thread once the worker's lock is free. A request that has not finished within
``timeout_s`` (waiting for the lock included) is answered 504 with a one-line JSON error, and the service goes
on serving: the lock was not free in time (the job never starts: 503), or the job runs on in its thread to
its end (Python cannot stop a thread) with its answer dropped and its files removed. Errors become one-line
4xx answers: an upload refused (:class:`keras_ecg.serve.uploads.UploadError`: its 413/415/422), bad input
(:class:`keras_ecg.errors.KerasECGError`: 422), with the private temporary paths taken out of the message.
"""

from __future__ import annotations

import asyncio
import threading
import time

from keras_ecg.errors import KerasECGError, one_line

REQUEST_TIMEOUT_S = 300.0


class Busy(Exception):
    pass


class Jobs:
    def __init__(self, timeout_s: float | None = REQUEST_TIMEOUT_S, lock=None):
        self.timeout_s = timeout_s
        self.lock = lock or threading.Lock()

    async def run(self, fn, *, hide=()):
        """``fn()``'s result; raises ``HTTPException`` (4xx, 503 or 504) with one line, ``hide`` paths removed."""
        from fastapi import HTTPException

        from keras_ecg.serve.uploads import UploadError

        deadline = None if not self.timeout_s else time.monotonic() + self.timeout_s
        gave_up = threading.Event()

        def locked():
            wait = -1 if deadline is None else max(deadline - time.monotonic(), 0.0)
            if not self.lock.acquire(timeout=wait):
                raise Busy()
            try:
                if gave_up.is_set():  # the client was answered 504 while this waited
                    raise Busy()
                return fn()
            finally:
                self.lock.release()

        try:
            return await asyncio.wait_for(asyncio.to_thread(locked), None if deadline is None else self.timeout_s)
        except (asyncio.TimeoutError, TimeoutError):
            gave_up.set()
            raise HTTPException(504, f"the request took over {self.timeout_s:g} s (the service's --request-timeout); "
                                     "send a shorter recording or try again later") from None
        except Busy:
            raise HTTPException(503, f"the service is busy: no worker was free within {self.timeout_s:g} s; "
                                     "try again later", headers={"Retry-After": "5"}) from None
        except UploadError as e:
            raise HTTPException(e.status, _hidden(one_line(e), hide)) from None
        except KerasECGError as e:
            raise HTTPException(422, _hidden(one_line(e), hide)) from None


def _hidden(text: str, hide) -> str:
    for h in hide:
        text = text.replace(str(h) + "/", "").replace(str(h), "")
    return text
