"""Ctrl-C, remembered: the CLI's SIGINT handler records it here for the code it runs.

Python turns Ctrl-C into KeyboardInterrupt wherever the program is, and a library that
catches every exception can swallow it or turn it into an error of its own (seen while
RapidOCR and onnxruntime load: a ConfigKeyError from OmegaConf). The work would then run on,
or blame the document. Code that catches every exception calls `raise_if_behind` first.
"""

from __future__ import annotations

import signal
import sys
import threading

_ctrl_c = threading.Event()


def install() -> None:
    """Handle Ctrl-C from now on: remember it, raise it, and keep it out of stderr where
    Python can only report it (a KeyboardInterrupt raised inside a weakref callback or a
    `__del__` is printed as "Exception ignored in ..." with a traceback, then dropped; the
    work stops anyway at its next `stop_if_requested`)."""
    signal.signal(signal.SIGINT, on_sigint)
    sys.unraisablehook = _quiet_about_ctrl_c


def _quiet_about_ctrl_c(unraisable: sys.UnraisableHookArgs) -> None:
    if isinstance(unraisable.exc_value, KeyboardInterrupt) and _ctrl_c.is_set():
        return
    sys.__unraisablehook__(unraisable)


def on_sigint(_signum: int, _frame: object) -> None:
    """The SIGINT handler: remember the interrupt, then raise it as Python would."""
    _ctrl_c.set()
    raise KeyboardInterrupt


def raise_if_behind(error: Exception) -> None:
    """Raise KeyboardInterrupt from `error` if Ctrl-C was pressed: the error is then the
    interrupt's doing, swallowed by a library, and not the document's fault."""
    if _ctrl_c.is_set():
        raise KeyboardInterrupt from error


def stop_if_requested() -> None:
    """Raise KeyboardInterrupt again if Ctrl-C was pressed, in case the first was swallowed.
    Called at page and job boundaries."""
    if _ctrl_c.is_set():
        raise KeyboardInterrupt
