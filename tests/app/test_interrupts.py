"""Ctrl-C raised where Python can only report it (a `__del__`, a weakref callback) stays
out of stderr once remembered; every other unraisable error is still reported."""

from __future__ import annotations

import gc
import sys

import pytest

from app import interrupts


class _RaisesWhenCollected:
    def __init__(self, error: BaseException) -> None:
        self.error = error

    def __del__(self) -> None:
        raise self.error


def _collect_one_raising(error: BaseException, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "unraisablehook", interrupts._quiet_about_ctrl_c)
    _RaisesWhenCollected(error)
    gc.collect()


@pytest.mark.usefixtures("ctrl_c_pressed")
def test_a_remembered_ctrl_c_is_not_reported(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _collect_one_raising(KeyboardInterrupt(), monkeypatch)
    assert capsys.readouterr().err == ""


@pytest.mark.usefixtures("ctrl_c_pressed")
def test_other_errors_are_still_reported(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _collect_one_raising(ValueError("disk gone"), monkeypatch)
    assert "ValueError: disk gone" in capsys.readouterr().err


def test_a_keyboard_interrupt_without_ctrl_c_is_reported(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(interrupts, "_ctrl_c", type(interrupts._ctrl_c)())
    _collect_one_raising(KeyboardInterrupt(), monkeypatch)
    assert "KeyboardInterrupt" in capsys.readouterr().err
