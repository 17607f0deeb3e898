"""The one exception type the data layer raises for bad input data."""

from __future__ import annotations


class DataError(ValueError):
    """Input data is missing, unreadable or unusable.

    The message is always one line, ``"<path>: <reason>"``, so it can be grepped from logs and shown as is.

    Args:
        path: the file, folder, glob or spec the problem is about.
        reason: what is wrong with it (and, where it helps, what to do).
    """

    def __init__(self, path: str, reason: str):
        self.path = str(path)
        self.reason = " ".join(str(reason).split())
        super().__init__(f"{self.path}: {self.reason}")

    def __reduce__(self):
        return (type(self), (self.path, self.reason))
