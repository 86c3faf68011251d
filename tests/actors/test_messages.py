"""Tests for actors/messages.py: OpCompleted, told to an op's reply_to actor."""

from __future__ import annotations

import concurrent.futures
import dataclasses
import logging
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pykka
import pytest

from actorstore import OpCompleted, OpType, Store
from actorstore.storage import InvalidOptionError, NotFoundError

WAIT = 5.0


class Received:
    """What an Inbox actor was told; `all_in` is set once `expected` arrived."""

    def __init__(self, expected: int) -> None:
        self.messages: list[Any] = []
        self.expected = expected
        self.all_in = threading.Event()


class Inbox(pykka.ThreadingActor):
    """A caller's own actor: keeps every message it is told."""

    def __init__(self, received: Received) -> None:
        super().__init__()
        self.received = received

    def on_receive(self, message: Any) -> None:
        self.received.messages.append(message)
        if len(self.received.messages) >= self.received.expected:
            self.received.all_in.set()


@pytest.fixture
def start_inbox() -> Iterator[Callable[..., tuple[pykka.ActorRef[Any], Received]]]:
    """Return `start_inbox(expected=1)`: a running Inbox actor and what it got."""
    refs: list[pykka.ActorRef[Any]] = []

    def start(expected: int = 1) -> tuple[pykka.ActorRef[Any], Received]:
        received = Received(expected)
        ref = Inbox.start(received)
        refs.append(ref)
        return ref, received

    yield start
    for ref in refs:
        ref.stop()


def test_op_completed_is_a_frozen_record() -> None:
    message = OpCompleted(1, OpType.UPSERT, "users", "k", None, None)

    with pytest.raises(dataclasses.FrozenInstanceError):
        message.result = 2  # type: ignore[misc]
    assert message == OpCompleted(1, OpType.UPSERT, "users", "k", None, None)
    assert [field.name for field in dataclasses.fields(OpCompleted)] == [
        "op_id",
        "op_type",
        "table",
        "key",
        "result",
        "error",
    ]


def test_reply_to_actor_is_told_of_a_successful_op(
    store: Store, start_inbox: Callable[..., tuple[pykka.ActorRef[Any], Received]]
) -> None:
    ref, inbox = start_inbox()
    store.upsert("users", "norma", {"age": 31}).get(timeout=WAIT)

    future = store.search("users", "norma", reply_to=ref)

    assert inbox.all_in.wait(WAIT)
    assert inbox.messages == [
        OpCompleted(future.op_id, OpType.SEARCH, "users", "norma", {"age": 31}, None)
    ]
    assert future.get(timeout=WAIT) == {"age": 31}


def test_reply_to_actor_is_told_of_a_failed_op(
    store: Store, start_inbox: Callable[..., tuple[pykka.ActorRef[Any], Received]]
) -> None:
    ref, inbox = start_inbox()

    future = store.update("users", "gone", 1, reply_to=ref)

    assert inbox.all_in.wait(WAIT)
    (message,) = inbox.messages
    assert (message.op_id, message.op_type) == (future.op_id, OpType.UPDATE)
    assert (message.table, message.key, message.result) == ("users", "gone", None)
    assert isinstance(message.error, NotFoundError)
    assert message.error is future.exception(timeout=WAIT)


SUBMITS: list[tuple[OpType, Callable[..., Any], Any]] = [
    (OpType.INSERT, lambda s, r: s.insert("users", "new", 1, reply_to=r), None),
    (OpType.UPDATE, lambda s, r: s.update("users", "here", 2, reply_to=r), None),
    (OpType.UPSERT, lambda s, r: s.upsert("users", "any", 3, reply_to=r), None),
    (OpType.REMOVE, lambda s, r: s.remove("users", "here", reply_to=r), None),
    (OpType.SEARCH, lambda s, r: s.search("users", "here", reply_to=r), 0),
    (OpType.EXISTS, lambda s, r: s.exists("users", "here", reply_to=r), True),
    (OpType.COUNT, lambda s, r: s.count("users", reply_to=r), 1),
    (OpType.SCAN, lambda s, r: s.scan("users", reply_to=r), [("here", 0)]),
    (
        OpType.BATCH,
        lambda s, r: s.batch("users", [("upsert", "b", 1)], reply_to=r),
        1,
    ),
]


@pytest.mark.parametrize(
    ("op_type", "submit", "result"),
    SUBMITS,
    ids=[case[0].value for case in SUBMITS],
)
def test_every_op_method_tells_reply_to_its_type_and_result(
    store: Store,
    start_inbox: Callable[..., tuple[pykka.ActorRef[Any], Received]],
    op_type: OpType,
    submit: Callable[..., Any],
    result: Any,
) -> None:
    ref, inbox = start_inbox()
    store.upsert("users", "here", 0).get(timeout=WAIT)

    future = submit(store, ref)

    assert inbox.all_in.wait(WAIT)
    (message,) = inbox.messages
    assert (message.op_id, message.op_type, message.table) == (
        future.op_id,
        op_type,
        "users",
    )
    assert (message.result, message.error) == (result, None)


def test_a_compact_op_tells_reply_to(
    store: Store, start_inbox: Callable[..., tuple[pykka.ActorRef[Any], Received]]
) -> None:
    ref, inbox = start_inbox()

    future = store.new_op("users", reply_to=ref).compact()

    assert inbox.all_in.wait(WAIT)
    (message,) = inbox.messages
    assert message.op_type is OpType.COMPACT
    assert message.result == future.get(timeout=WAIT)


def test_reply_to_with_a_callback_executor(
    make_store: Callable[..., Store],
    start_inbox: Callable[..., tuple[pykka.ActorRef[Any], Received]],
) -> None:
    ref, inbox = start_inbox()
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        store = make_store(callback_executor=pool)
        store.create_table("users")
        calls: list[Any] = []

        future = store.upsert(
            "users", "k", 1, reply_to=ref, callback=lambda e, r: calls.append(e)
        )

        assert inbox.all_in.wait(WAIT)
        assert future.get(timeout=WAIT) is None
        store.close(timeout=WAIT)
    assert calls == [None]
    assert inbox.messages[0].op_type is OpType.UPSERT


def test_many_ops_each_tell_reply_to_once(
    store: Store, start_inbox: Callable[..., tuple[pykka.ActorRef[Any], Received]]
) -> None:
    ref, inbox = start_inbox(100)

    futures = [store.upsert("users", f"k{i}", i, reply_to=ref) for i in range(100)]

    assert inbox.all_in.wait(WAIT)
    store.flush(WAIT)
    assert sorted(m.op_id for m in inbox.messages) == [f.op_id for f in futures]


def test_a_dead_reply_to_actor_does_not_lose_the_result(
    store: Store, start_inbox: Callable[..., tuple[pykka.ActorRef[Any], Received]]
) -> None:
    ref, _ = start_inbox()
    ref.stop()

    future = store.upsert("users", "k", 1, reply_to=ref)

    assert future.get(timeout=WAIT) is None
    assert store.search("users", "k").get(timeout=WAIT) == 1


def test_replies_to_a_dead_actor_are_one_warning_per_actor_with_a_count(
    store: Store,
    start_inbox: Callable[..., tuple[pykka.ActorRef[Any], Received]],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """500 ops replying to a dead actor were 500 warnings (issue 24, item 7)."""
    dead = [start_inbox()[0] for _ in range(2)]
    for ref in dead:
        ref.stop()
    caplog.set_level(logging.WARNING, logger="actorstore")

    futures = [
        store.upsert("users", f"k{i}", i, reply_to=dead[i % 2]) for i in range(500)
    ]
    store.flush(WAIT)

    assert all(future.get(timeout=WAIT) is None for future in futures)
    warned = [r.getMessage() for r in caplog.records if "reply_to" in r.getMessage()]
    assert len(warned) == 2, warned
    for ref in dead:
        (told,) = [message for message in warned if str(ref) in message]
        assert "is dead: 250 replies" in told
        assert "the results stay in the ops' futures" in told
    caplog.clear()
    later = store.upsert("users", "later", 1, reply_to=dead[0])
    later.get(timeout=WAIT)
    store.flush(WAIT)  # a later burst is told again, with its own count
    assert [r.getMessage() for r in caplog.records if "reply_to" in r.getMessage()] == [
        f"reply_to actor {dead[0]} is dead: 1 reply (op {later.op_id}) could not "
        "be delivered; the results stay in the ops' futures"
    ]


def test_reply_to_must_be_an_actor_ref(
    store: Store, start_inbox: Callable[..., tuple[pykka.ActorRef[Any], Received]]
) -> None:
    ref, _ = start_inbox()

    with pytest.raises(
        InvalidOptionError, match=r"reply_to must be a pykka\.ActorRef, not \w*Proxy"
    ):
        store.upsert("users", "k", 1, reply_to=ref.proxy())  # type: ignore[arg-type]
    assert store.stats()["submitted"] == 0
