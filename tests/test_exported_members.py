"""The exported names of each package, pinned, as httpx's test of the same name.

A name joins or leaves a package's `__all__` only by editing this file too.
`actorstore` exports what a program needs: every name there is one the README
or an example uses (as `actorstore.NAME`), or belongs to the error tree or
the codec set the README names. `actorstore.cluster` is pinned at the end.
"""

from __future__ import annotations

import importlib
import re
import types
from pathlib import Path

import pytest

import actorstore

ROOT = Path(__file__).resolve().parents[1]
FROM_IMPORT = re.compile(r"^from actorstore import \(?([\w, \n]+)\)?", re.M)

EXPORTED = {
    "actorstore": [
        "DEAD_LETTER_TABLE",
        "AsyncCallback",
        "AttemptState",
        "BackupResult",
        "BlockingCallError",
        "BytesCodec",
        "Callback",
        "CheckResult",
        "Codec",
        "DeadLetter",
        "DeadLetterSummary",
        "DecodeError",
        "DiskFullError",
        "Durability",
        "EncodeError",
        "FastJsonCodec",
        "Flow",
        "IntCodec",
        "InvalidInputError",
        "InvalidKeyError",
        "InvalidOptionError",
        "InvalidTableNameError",
        "JsonCodec",
        "KeyExistsError",
        "LmdbError",
        "Next",
        "NotFoundError",
        "Op",
        "OpCompleted",
        "OpFuture",
        "OpSubmittedError",
        "OpTimeoutError",
        "OpType",
        "OpVetoedError",
        "OpsMaxExceededError",
        "OutcomeUnknownError",
        "OwnerLostError",
        "OwnerUnavailableError",
        "ReplayReport",
        "RetriesExhaustedError",
        "RetryCallback",
        "RetryPolicy",
        "ScanIterator",
        "SerializedClient",
        "StaleOpError",
        "Store",
        "StoreBusyError",
        "StoreClosedError",
        "StoreCorruptedError",
        "StoreError",
        "StoreForkedError",
        "StoreFullError",
        "StrCodec",
        "TableBusyError",
        "TableExistsError",
        "TableInfo",
        "TransientError",
        "UnknownDeadLetterError",
        "UnknownFormatError",
        "UnknownTableError",
        "open_store",
        "register_codec",
        "registered_formats",
    ],
    "actorstore.storage": [
        "MAX_KEY_SIZE",
        "MAX_TABLE_NAME_LENGTH",
        "BackupResult",
        "BytesCodec",
        "CheckResult",
        "Codec",
        "DecodeError",
        "DiskFullError",
        "Durability",
        "EncodeError",
        "FastJsonCodec",
        "IntCodec",
        "InvalidInputError",
        "InvalidKeyError",
        "InvalidOptionError",
        "InvalidTableNameError",
        "JsonCodec",
        "KeyExistsError",
        "LmdbError",
        "NotFoundError",
        "OpType",
        "OpVetoedError",
        "StaleOpError",
        "StoreBusyError",
        "StoreClosedError",
        "StoreCorruptedError",
        "StoreDirectory",
        "StoreError",
        "StoreFullError",
        "StrCodec",
        "TableBusyError",
        "TableExistsError",
        "TableInfo",
        "TransientError",
        "UnknownFormatError",
        "UnknownTableError",
        "get_codec",
        "register_codec",
        "registered_formats",
        "validate_table_name",
    ],
    "actorstore.retry": [
        "DEAD_LETTER_TABLE",
        "DEFAULT_POLICY",
        "AsyncCallback",
        "AttemptState",
        "Callback",
        "CallbackLike",
        "DeadLetter",
        "DeadLetterHook",
        "DeadLetterSummary",
        "DeadLetterTable",
        "Flow",
        "FutureLike",
        "Next",
        "PendingFuture",
        "ReplayReport",
        "RetriesExhaustedError",
        "RetryAttempt",
        "RetryCallback",
        "RetryHost",
        "RetryPolicy",
        "Scheduler",
        "UnknownDeadLetterError",
        "current_attempt",
    ],
}


@pytest.mark.parametrize("package", list(EXPORTED))
def test_each_package_exports_exactly_its_pinned_names(package: str) -> None:
    assert importlib.import_module(package).__all__ == EXPORTED[package]


@pytest.mark.parametrize("package", list(EXPORTED))
def test_every_public_name_of_a_package_is_in_its_all(package: str) -> None:
    module = importlib.import_module(package)
    public = {
        name
        for name, value in vars(module).items()
        if not name.startswith("_") and not isinstance(value, types.ModuleType)
    }
    assert sorted(public) == sorted(module.__all__)


def _used_as_actorstore_names() -> set[str]:
    """Return every `actorstore.NAME` the README and the examples spell out."""
    texts = [(ROOT / "README.md").read_text()]
    texts += [path.read_text() for path in sorted((ROOT / "examples").glob("*.py"))]
    used = set()
    for text in texts:
        used |= set(re.findall(r"\bactorstore\.(\w+)", text))
        for names in re.findall(
            r"^from actorstore import \(?([\w, \n]+)\)?", text, re.M
        ):
            used |= {name.strip() for name in names.split(",") if name.strip()}
    return used


def _in_the_error_tree_or_the_codec_set(obj: object) -> bool:
    return isinstance(obj, type) and (
        issubclass(obj, actorstore.StoreError)
        or obj is actorstore.Codec
        or issubclass(obj, actorstore.Codec)
    )


def test_every_name_actorstore_exports_is_one_a_user_meets() -> None:
    used = _used_as_actorstore_names()
    # The README names the tree by its root and the codec set by its registry.
    assert {"StoreError", "register_codec", "FastJsonCodec"} <= used
    unused = [
        name
        for name in actorstore.__all__
        if name not in used
        and not _in_the_error_tree_or_the_codec_set(getattr(actorstore, name))
    ]
    assert not unused, f"no README line or example uses actorstore.{unused}"


CLUSTER = [
    "CLUSTER_POLICY",
    "NAMESPACE",
    "ClusterStore",
    "SimulatedCluster",
    "connect_store",
    "label_resource",
    "simulated_cluster",
]
"""`actorstore.cluster`'s names: owners, wire format and placement are private."""


def test_the_cluster_package_exports_exactly_its_pinned_names() -> None:
    pytest.importorskip("ray", reason="actorstore.cluster needs ray")
    cluster = importlib.import_module("actorstore.cluster")

    assert cluster.__all__ == CLUSTER
    public = {
        name
        for name, value in vars(cluster).items()
        if not name.startswith("_") and not isinstance(value, types.ModuleType)
    }
    assert public == set(CLUSTER)
