"""The error hierarchy. Messages of `RagError` are shown to the user as they are,
so they say what went wrong and what to do about it."""


class RagError(Exception):
    """A problem the user can fix; the message will be shown to the user."""


class InputError(RagError):
    """A bad question, parameter or file; `field` names the input at fault when one is."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class ArticleNotFound(InputError):
    """No article has the id asked for (HTTP 404)."""

    def __init__(self, article_id: str) -> None:
        self.article_id = article_id
        super().__init__(f"no article with id {article_id!r}: ids come from citations or GET /articles")


class IndexMissingError(RagError):
    """There is no index where one was expected."""


class IndexMismatchError(RagError):
    """The index on disk was made by another embedder or format version."""


class IndexConflictError(RagError):
    """The index belongs to another corpus, is not an index at all, or another build holds it."""
