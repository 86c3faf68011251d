"""ScanIterator: a table streamed page by page (`Store.scan_iter`)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from actorstore._methods import OpMethods
    from actorstore.futures import OpFuture

__all__ = ["ScanIterator"]


class ScanIterator:
    """The pairs of a table in key order, page by page (see `Store.scan_iter`)."""

    def __init__(
        self,
        store: OpMethods,
        table: str,
        prefix: Any,
        start: Any,
        end: Any,
        reverse: bool,
        page_size: int,
    ) -> None:
        self._store = store
        self._table = table
        self._prefix = prefix
        self._start = start
        self._end = end
        self._reverse = reverse
        self._page_size = page_size

    def _page(self, after: tuple[Any] | None) -> OpFuture[list[tuple[Any, Any]]]:
        """Start the scan of the page after key `after[0]` (the first if None)."""
        start, end = self._start, self._end
        limit = self._page_size
        if after is not None:
            if self._reverse:
                end = after[0]  # exclusive: the last key is not seen again
            else:
                start = after[0]  # inclusive: one more, the first is dropped
                limit += 1
        return self._store.scan(
            self._table,
            prefix=self._prefix,
            start=start,
            end=end,
            limit=limit,
            reverse=self._reverse,
        )

    def _fresh(
        self, pairs: list[tuple[Any, Any]], after: tuple[Any] | None
    ) -> list[tuple[Any, Any]]:
        if (
            after is not None
            and not self._reverse
            and pairs
            and pairs[0][0] == after[0]
        ):
            return pairs[1:]
        return pairs

    def __iter__(self) -> Iterator[tuple[Any, Any]]:
        after: tuple[Any] | None = None
        while True:
            pairs = self._fresh(self._page(after).get(), after)
            yield from pairs
            if len(pairs) < self._page_size:
                return
            after = (pairs[-1][0],)

    async def __aiter__(self) -> AsyncIterator[tuple[Any, Any]]:
        after: tuple[Any] | None = None
        while True:
            pairs = self._fresh(await self._page(after), after)
            for pair in pairs:
                yield pair
            if len(pairs) < self._page_size:
                return
            after = (pairs[-1][0],)
