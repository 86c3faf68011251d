"""NodeOwner: in this process (its logic) and as a Ray actor on a labelled node."""

from __future__ import annotations

import pickle
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import lmdb
import pytest
import ray

from actorstore.cluster import label_resource
from actorstore.cluster._errors import (
    OutcomeUnknownError,
    OwnerUnavailableError,
    translate_call_error,
)
from actorstore.cluster._node import NodeOwner
from actorstore.cluster._owner_actors import (
    find_node_owner,
    start_node_owner,
    start_owner,
    stop_owner,
)
from actorstore.cluster._wire import WireOp, outcomes_of, wire_op
from actorstore.storage import (
    CheckResult,
    InvalidInputError,
    InvalidOptionError,
    KeyExistsError,
    LmdbError,
    NotFoundError,
    OpType,
    StoreClosedError,
    StoreError,
    TableExistsError,
)
from actorstore.storage._requests import Outcome, TableRequest, build_request
from actorstore.storage._table import Table
from actorstore.storage._table_codecs import TableCodecs
from tests.cluster.harness import WAIT, LabelledCluster, call


def group(table: str, *ops: WireOp, sync: bool = False) -> Any:
    """Return one table's group: its ops, all with the same sync flag."""
    return (table, list(ops), [sync] * len(ops))


def run(owner: NodeOwner, *groups: Any) -> list[list[Outcome]]:
    """Run one call on `owner` in this process; return its outcomes, by group."""
    return [outcomes_of(answer) for answer in owner.run(list(groups))]


def upserts(n: int, prefix: str = "k") -> list[WireOp]:
    return [wire_op(OpType.UPSERT, f"{prefix}{i}", {"n": i}) for i in range(n)]


# -- in this process -----------------------------------------------------------


class Unpicklable(Exception):
    """A user's error (not of the tree) whose keyword-only __init__ breaks
    unpickling (every error of the tree pickles)."""

    def __init__(self, *, why: str) -> None:
        super().__init__(f"refused: {why}")
        self.table = "t"


class Refuse(TableRequest):
    """An op that fails with an error that cannot cross the wire."""

    type = OpType.UPSERT
    __slots__ = ()

    def run(self, txn: lmdb.Transaction[bytes]) -> None:
        raise Unpicklable(why="test")


class TableOwner(NodeOwner):
    """A NodeOwner that hands out its tables, to build ops bound to them."""

    def table(self, name: str) -> Table:
        return self._directory.table(name)


@pytest.fixture
def owner(tmp_path: Path) -> Iterator[TableOwner]:
    owner = TableOwner("a", str(tmp_path / "store"))
    owner.create_table("t")
    yield owner
    owner.close()


def test_a_call_runs_each_group_and_answers_one_outcome_per_op(
    owner: NodeOwner,
) -> None:
    owner.create_table("counts", key_format="int", value_format="int")
    results = run(
        owner,
        *[
            group(
                "t",
                wire_op("insert", "k", 1),
                wire_op("insert", "k", 2),
                wire_op("search", "k"),
                wire_op("update", "absent", 3),
                wire_op("scan", prefix="k"),
            ),
            group("counts", wire_op("upsert", 7, 49), wire_op("count")),
        ],
    )
    inserted, duplicate, found, absent, scanned = results[0]
    assert inserted == Outcome(None, None)
    assert isinstance(duplicate.error, StoreError)
    assert duplicate.error.table == "t"
    assert "already exists" in str(duplicate.error)
    assert found.result == 1
    assert "not found by update()" in str(absent.error)
    assert scanned.result == [("k", 1)]
    assert [o.result for o in results[1]] == [None, 1]


def test_an_op_that_does_not_fit_its_table_fails_alone(owner: NodeOwner) -> None:
    bad, good = run(
        owner, group("t", wire_op("frobnicate", "k"), wire_op("upsert", "k", 1))
    )[0]
    assert isinstance(bad.error, InvalidInputError)
    assert "unknown op type 'frobnicate'" in str(bad.error)
    assert good.ok
    assert run(owner, group("t", wire_op("search", "k"))) == [[Outcome(1)]]


def test_a_group_that_cannot_run_fails_each_of_its_ops(owner: NodeOwner) -> None:
    unknown, mismatched, fine = run(
        owner,
        *[
            group("nope", *upserts(2)),
            ("t", upserts(2), [True]),
            group("t", *upserts(1)),
        ],
    )
    assert len(unknown) == 2
    assert all("'nope' does not exist" in str(o.error) for o in unknown)
    assert all(isinstance(o.error, InvalidInputError) for o in mismatched)
    assert all("2 ops came with 1 sync flags" in str(o.error) for o in mismatched)
    assert fine == [Outcome()]


def test_an_error_that_cannot_cross_the_wire_is_sent_as_a_storage_error(
    owner: TableOwner,
) -> None:
    refused, after = run(
        owner,
        *[group("t", Refuse(owner.table("t").codecs), wire_op("upsert", "k", 1))],  # type: ignore[arg-type]
    )[0]
    assert type(refused.error) is LmdbError
    assert str(refused.error) == "Unpicklable: refused: test"
    assert refused.error.table == "t"
    assert pickle.loads(pickle.dumps(refused.error)).table == "t"
    assert after.ok


def test_a_none_table_is_synced_when_an_op_asks_and_else_by_sync(
    owner: NodeOwner,
) -> None:
    owner.create_table("lazy", durability="none")
    run(owner, group("lazy", *upserts(3)))
    assert owner.sync() == ["lazy"]
    assert owner.sync() == []
    run(owner, group("lazy", wire_op("search", "k0")))
    assert owner.sync() == []  # reads leave it clean
    run(owner, group("lazy", *upserts(2), sync=True))
    assert owner.sync() == []  # synced before the call answered
    run(owner, group("t", *upserts(2)))
    assert owner.sync() == []  # SYNC tables are never dirty


def test_create_table_is_idempotent_with_the_same_formats(owner: NodeOwner) -> None:
    first = owner.create_table("users", key_format="str", value_format="json")
    assert owner.create_table("users") == first == owner.table_info("users")
    with pytest.raises(TableExistsError, match="key_format='str', value_format"):
        owner.create_table("users", value_format="bytes")
    assert owner.table_names() == ["t", "users"]


def test_options_are_kept_with_a_table_and_tables_are_checked(
    owner: NodeOwner,
) -> None:
    info = owner.set_table_options("t", {"retry": {"max_attempts": 3}})
    assert info.options == {"retry": {"max_attempts": 3}}
    assert owner.table_info("t").options == info.options
    run(owner, group("t", *upserts(5)))
    assert owner.check("t") == {"t": CheckResult(ok=True, records=5)}
    with pytest.raises(TableExistsError, match="exist_ok=True"):
        owner.create_table("t", exist_ok=False)


def test_compact_and_close(owner: NodeOwner) -> None:
    run(owner, group("t", *upserts(100)))
    assert owner.compact("t") >= 0
    owner.close()
    owner.close()
    (closed,) = run(owner, group("t", *upserts(1)))[0]
    assert isinstance(closed.error, StoreClosedError)


# -- as a Ray actor --------------------------------------------------------------


def test_each_owner_runs_on_the_node_with_its_label(
    cluster: LabelledCluster, node_owners: dict[str, Any]
) -> None:
    for label, handle in node_owners.items():
        where = ray.get(handle.location.remote(), timeout=WAIT)
        assert where["label"] == label
        assert where["path"] == cluster.paths[label]
        assert where["node_id"] == cluster.node_id(label)
        (node,) = [n for n in ray.nodes() if n["NodeID"] == where["node_id"]]
        assert node["Resources"].get(label_resource(label)) == 1


def test_a_call_commits_and_answers_per_op_across_the_wire(
    node_owners: dict[str, Any], table_name: str
) -> None:
    owner = node_owners["b"]
    ray.get(owner.create_table.remote(table_name), timeout=WAIT)
    first = call(owner, [group(table_name, *upserts(512))])
    assert first == [[Outcome()] * 512]
    found, counted = call(
        owner, [group(table_name, wire_op("search", "k511"), wire_op("count"))]
    )[0]
    assert found.result == {"n": 511}
    assert counted.result == 512


def test_a_call_carries_the_storage_operations_the_caller_built(
    node_owners: dict[str, Any], table_name: str
) -> None:
    owner = node_owners["a"]
    info = ray.get(
        owner.create_table.remote(table_name, key_format="int", value_format="json"),
        timeout=WAIT,
    )
    codecs = TableCodecs(info.name, info.key_format, info.value_format)
    ops = [build_request(codecs, "insert", i, {"n": i}) for i in range(100)]
    again = build_request(codecs, "insert", 7, {"n": -7})
    first, second = call(
        owner,
        [
            (table_name, ops, [False] * 100),
            (table_name, [again, wire_op("search", 7), wire_op("count")], [False] * 3),
        ],
    )
    assert first == [Outcome()] * 100
    assert isinstance(second[0].error, KeyExistsError)
    assert [o.result for o in second[1:]] == [{"n": 7}, 100]


def test_an_operation_of_another_table_fails_its_group(
    node_owners: dict[str, Any], table_name: str
) -> None:
    owner = node_owners["a"]
    ray.get(owner.create_table.remote(table_name), timeout=WAIT)
    stray = build_request(TableCodecs("elsewhere", "str", "json"), "upsert", "k", 1)
    (outcomes,) = call(owner, [group(table_name, wire_op("upsert", "k", 1), stray)])
    assert all(isinstance(o.error, InvalidInputError) for o in outcomes)
    assert "op for table 'elsewhere'" in str(outcomes[0].error)


def test_op_errors_arrive_as_their_own_type_with_their_fields(
    node_owners: dict[str, Any], table_name: str
) -> None:
    owner = node_owners["a"]
    ray.get(owner.create_table.remote(table_name), timeout=WAIT)
    exists, absent = call(
        owner,
        [
            group(
                table_name,
                wire_op("upsert", "k", 1),
                wire_op("insert", "k", 2),
                wire_op("remove", "absent"),
            )
        ],
    )[0][1:]
    assert isinstance(exists.error, KeyExistsError)
    assert (exists.error.table, exists.error.key) == (table_name, "k")
    assert isinstance(absent.error, NotFoundError)
    assert absent.error.op == "remove"


def test_a_method_error_arrives_as_an_instance_of_its_type(
    node_owners: dict[str, Any],
) -> None:
    with pytest.raises(StoreError, match="'nope' does not exist"):
        ray.get(node_owners["a"].table_info.remote("nope"), timeout=WAIT)


def test_stats_and_checks_cross_the_wire(
    node_owners: dict[str, Any], table_name: str
) -> None:
    owner = node_owners["a"]
    ray.get(owner.create_table.remote(table_name), timeout=WAIT)
    before = ray.get(owner.stats.remote(), timeout=WAIT)
    call(owner, [group(table_name, *upserts(3))])
    after = ray.get(owner.stats.remote(), timeout=WAIT)
    assert after["calls"] == before["calls"] + 1
    assert after["ops"] == before["ops"] + 3
    assert after["tables"][table_name]["records"] == 3
    checked = ray.get(owner.check.remote(table_name), timeout=WAIT)
    assert checked == {table_name: CheckResult(ok=True, records=3)}


def test_an_owner_is_found_by_name_and_started_once(
    cluster: LabelledCluster, node_owners: dict[str, Any]
) -> None:
    found = find_node_owner("a", namespace=cluster.namespace)
    assert found._actor_id == node_owners["a"]._actor_id
    again = start_node_owner("a", cluster.paths["a"], namespace=cluster.namespace)
    assert again._actor_id == node_owners["a"]._actor_id
    with pytest.raises(InvalidOptionError, match="already serves"):
        start_node_owner("a", "/elsewhere", namespace=cluster.namespace)
    with pytest.raises(InvalidOptionError, match="not absolute"):
        start_node_owner("a", "relative/path", namespace=cluster.namespace)
    with pytest.raises(OwnerUnavailableError, match="no actor"):
        find_node_owner("c", namespace=cluster.namespace)


def test_an_owner_for_a_label_no_node_has_is_unavailable(
    cluster: LabelledCluster, tmp_path: Path
) -> None:
    with pytest.raises(OwnerUnavailableError, match=r"did not answer within 0\.5 s"):
        start_node_owner("c", str(tmp_path), namespace=cluster.namespace, timeout=0.5)
    ray.kill(find_node_owner("c", namespace=cluster.namespace))


def test_a_stopped_owner_is_gone_for_good(
    cluster: LabelledCluster, tmp_path: Path
) -> None:
    name = "stopping"
    handle = start_owner(
        NodeOwner, name, "b", str(tmp_path), namespace=cluster.namespace
    )
    stop_owner(handle)
    with pytest.raises(ray.exceptions.ActorDiedError) as died:
        ray.get(handle.location.remote(), timeout=WAIT)
    assert isinstance(translate_call_error(died.value, label="b"), OutcomeUnknownError)
    with pytest.raises(ValueError, match=name):
        ray.get_actor(name, namespace=cluster.namespace)
