"""actors.cluster as a package: imported only when used, its names checked."""

from __future__ import annotations

import subprocess
import sys

import pytest

from actorstore.cluster import label_resource
from actorstore.cluster._names import node_owner_name, validate_label
from actorstore.storage import InvalidOptionError
from tests.cluster.harness import REPO_ROOT


def test_importing_actors_does_not_import_ray() -> None:
    code = (
        "import sys, actorstore, actorstore.storage, actorstore.retry; "
        "assert 'ray' not in sys.modules and 'actorstore.cluster' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO_ROOT)


def test_a_label_names_its_resource_and_its_owner() -> None:
    assert label_resource("disk-2") == "actorstore-disk-2"
    assert node_owner_name("a") == "actorstore-node-a"


@pytest.mark.parametrize("label", ["", "-a", "a/b", "a b", "é", "x" * 65, None, 1])
def test_a_bad_label_is_refused_with_the_rule(label: object) -> None:
    with pytest.raises(InvalidOptionError, match="letters, digits"):
        validate_label(label)


def test_importing_the_cluster_without_ray_says_what_to_install() -> None:
    code = (
        "import sys; sys.modules['ray'] = None\n"  # as if Ray were not installed
        "try:\n"
        "    import actorstore.cluster\n"
        "except ImportError as error:\n"
        "    print(error)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert 'pip install "actorstore[cluster]"' in result.stdout
