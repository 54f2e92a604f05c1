"""The pipeline's exceptions: one base class, one subclass per reason a document is refused.

Every message is meant for a person: it names what is wrong in plain words. The app layer
records `str(error)` as the document's failure reason and carries on with the batch.
"""


class DocfuseError(Exception):
    """Base class of every error docfuse raises on purpose."""


class BadInputError(DocfuseError):
    """The input document cannot be processed; retrying will not help."""


class EmptyFileError(BadInputError):
    """The file has no bytes."""


class UnsupportedFileTypeError(BadInputError):
    """The bytes are not a PDF or a supported image format."""


class CorruptFileError(BadInputError):
    """The file claims a supported type but cannot be parsed (damaged or truncated)."""


class EncryptedFileError(BadInputError):
    """The PDF needs a password to open."""


class TooLargeError(BadInputError):
    """A page or image exceeds the configured pixel or size cap (e.g. a decompression bomb)."""
