"""The error hierarchy. Messages of `RagError` are shown to the user as they are,
so they say what went wrong and what to do about it."""


class RagError(Exception):
    """A problem the user can fix; the message will be shown to the user."""


class InputError(RagError):
    """A bad question, parameter or file."""


class IndexMissingError(RagError):
    """There is no index where one was expected."""


class IndexMismatchError(RagError):
    """The index on disk was made by another embedder or format version."""


class IndexConflictError(RagError):
    """The index belongs to another corpus, is not an index at all, or another build holds it."""
