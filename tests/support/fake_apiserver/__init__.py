"""A fake Kubernetes API server for the client's unit tests: the real wire format, little of the behaviour.

It serves
- discovery: `/api/v1`, `/apis` and `/apis/<group>/<version>` (APIResourceLists, subresources included);
  `metrics.k8s.io/v1beta1` is listed but its own document answers 503, as an aggregated API whose backend
  is down does;
- objects under `/api/v1/...` and `/apis/<group>/<version>/...`: GET of one or of a list (`labelSelector`
  with `key=value` terms; `limit`/`continue` pages, a token older than `expire` answering 410; list items
  without apiVersion/kind, as the apiserver sends them), POST, PATCH
  (apply patch with `fieldManager`, `force` and `dryRun=All`; merge patch, also of `/status`), DELETE;
- watches (`?watch=1`): the events after `resourceVersion`, then live ones, one JSON document a line,
  written in `chunk_size` pieces; an ERROR event with a 410 Status when that version was compacted away.

A test writes as another client would (`create`, `update`, `delete`), steers the open watches (`bookmark`,
`expire`, `end_watches`, `drop_watches`) and scripts the next answers to a path (`answer`, `drop`).
Every request is recorded in `requests`.

The wire format (Status, kinds, paths, selectors, merge patches) is wire.py; the discovery documents are
discovery.py; the server itself, FakeApi, is server.py.
"""

from tests.support.fake_apiserver.server import BIG, FakeApi
from tests.support.fake_apiserver.wire import status

__all__ = ["BIG", "FakeApi", "status"]
