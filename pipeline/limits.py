"""Bounds every layer agrees on (the CLI's options, the settings, the renderer's advice)."""

MIN_DPI = 36  # below this, text is too small for OCR or a model to read
MAX_DPI = 600
