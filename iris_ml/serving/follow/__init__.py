"""Follow the champion: when the alias moves, every worker loads and checks the new version,
then all of them swap to it at once (``iris-ml serve --follow``).

MLflow's scoring server loads one model at start. The launcher instead runs
``create_app`` (a uvicorn factory) in each worker: it builds MLflow's own
scoring app for the champion (``scoring_server.init``: every route, format and
answer unchanged) and puts a small ASGI dispatcher in front that can point at
another such app later. Requests already running keep the app they started on,
so none is cut off by a swap.

The workers share a folder and agree through files in it (``shared.py``):

* one process holds ``leader.lock`` and polls the registry: the watcher the launcher
  starts beside the workers (``watcher.py``), or, if it dies, a worker (flock: another
  takes over if that one dies too). When the alias points at a new version it writes
  ``target.json`` (``leader.py``); the watcher downloads and checks the version first
  and names the folder, so no worker imports MLflow to follow;
* every worker loads the target, checks it names the textbook flowers right and
  reports its own version (``loading.py``, with numpy alone when the version has a
  linear scorer), and leaves ``ready/<v>/<pid>`` (or ``failed/<v>/<pid>``);
* when every worker is ready the leader writes ``active.json``; each worker looks
  at that file at the start of each request and swaps before serving it
  (``follower.py``). So once one answer carries the new version, every request
  sent after it does too.

A version that fails its check is never activated: the old one keeps serving and
``GET /health`` says which version failed and why. It is not tried again until the
server restarts. A worker that misses a swap (still loading at ``swap_timeout``)
loads the active version afterwards and catches up.
"""
