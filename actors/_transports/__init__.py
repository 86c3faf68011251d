"""Transports: where a store's tables live and how ops reach their owners.

`base.py` is the seam (`Transport`, `Capabilities`, `TableSpec`); `local.py`
serves a directory on this host with the owners of `owners.py` and the
lazy sync of `syncing.py`; `mock.py` answers in memory, for unit tests.
The cluster's transport is `actorstore.cluster`'s `ClusterBackend`.
"""

__all__ = []
