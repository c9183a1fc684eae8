"""The images and compose.yaml's stack, for real: podman builds them and podman-compose runs it.

Here no registry answers, so `FROM python:3.11-slim-bookworm` and `postgres:16` are the
stand-ins of ../shared/containers/standins.sh (.ci/run makes them); elsewhere the real images.
"""

from __future__ import annotations

import json
import secrets
import time
import uuid

import httpx
import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.containers import engine
from tests.procs import REPO, free_port

pytestmark = [pytest.mark.integration, pytest.mark.containers, pytest.mark.slow]

SETOSA = {"columns": ["sepal_length", "sepal_width", "petal_length", "petal_width"],
          "data": [[5.1, 3.5, 1.4, 0.2]]}  # fmt: skip
BASE_IMAGE = "python:3.11-slim-bookworm"
# The serving image must stay under 1 GB on the real slim base (about 130 MB): what our
# Dockerfile adds is held to the rest, whichever base this machine has.
MAX_OWN_LAYERS = 870 * 1000 * 1000


@pytest.fixture(scope="module")
def images():
    if problem := engine.engine_missing():
        pytest.skip(problem)
    tag = uuid.uuid4().hex[:8]
    built = {"server": f"localhost/iris-ml:test-{tag}", "ui": f"localhost/iris-ml-ui:test-{tag}"}
    try:
        for target, name in built.items():
            engine.build(name, target, revision=f"test-{tag}")
        yield built
    finally:
        for name in built.values():
            engine.podman("rmi", "--force", name, check=False)


@pytest.fixture(scope="module")
def stack(images, tmp_path_factory):
    folder = tmp_path_factory.mktemp("stack")
    password = "pw-" + secrets.token_hex(12)  # pragma: allowlist secret (random, per run)
    key = secrets.token_urlsafe(24)  # random, per run
    ports = {"serve": free_port(), "ui": free_port(), "tracking": free_port()}
    env_file = folder / ".env"
    env_file.write_text(
        f"POSTGRES_USER=mlflow\nPOSTGRES_PASSWORD={password}\nSERVING_KEY={key}\n"
        f"SERVE_PORT={ports['serve']}\nUI_PORT={ports['ui']}\nTRACKING_PORT={ports['tracking']}\n"
        f"IRIS_IMAGE={images['server']}\nIRIS_UI_IMAGE={images['ui']}\n"
    )
    running = engine.Stack(env_file, ports, password, key)
    try:
        running.up()
        running.wait_for_version("1")
        yield running
    finally:
        running.compose("--profile", "retrain", "down", "-v")


def installed_versions(image: str) -> tuple[str, dict[str, str]]:
    """The image's Python version and its installed distributions' versions."""
    script = (
        "import importlib.metadata as m, json, platform; print(json.dumps([platform.python_version(), "
        "{d.metadata['Name']: d.version for d in m.distributions()}]))"
    )
    out = engine.podman("run", "--rm", "--entrypoint", "python", image, "-c", script).stdout
    python, versions = json.loads(out)
    return python, {canonicalize_name(k): v for k, v in versions.items()}


def locked_versions(python: str) -> dict[str, str]:
    """The lock's pin of each package for this Python (a universal lock: some differ by version)."""
    pins = {}
    for line in (REPO / "requirements.lock").read_text().splitlines():
        if not line or line[0] in " #":
            continue
        requirement = Requirement(line)
        if requirement.marker is None or requirement.marker.evaluate(
            {"python_full_version": python, "python_version": python.rsplit(".", 1)[0]}
        ):
            pins[canonicalize_name(requirement.name)] = str(requirement.specifier).lstrip("=")
    return pins


def test_each_image_installs_exactly_the_locks_pins(images):
    for image in images.values():
        python, installed = installed_versions(image)
        locked = locked_versions(python)
        installed.pop("iris-ml")
        assert len(installed) > 10, image
        unpinned = {n: v for n, v in installed.items() if locked.get(n) != v}
        assert unpinned == {}, f"{image}: not the lock's versions: {unpinned}"


def test_the_images_run_as_a_user_with_labels_a_healthcheck_and_no_build_leftovers(images):
    for target, image in images.items():
        config = engine.image_config(image)
        assert config["User"] == "10001:10001"
        labels = config["Labels"]
        assert labels["org.opencontainers.image.revision"].startswith("test-")
        assert labels["org.opencontainers.image.version"]
        assert labels["org.opencontainers.image.source"]
        assert config["Healthcheck"]["Test"][0] == "CMD", target
        leftovers = engine.podman(
            "run", "--rm", "--entrypoint", "sh", image, "-c",
            "command -v gcc cc make git; find /opt/venv /app /home -xdev \\( -name tests "
            "-o -name .cache -o -name mlflow.db -o -name .env -o -name .git \\) -print "
            "2>/dev/null; true",
        ).stdout.split()  # fmt: skip
        assert leftovers == [], f"{target}: {leftovers}"


def test_the_serving_image_stays_lean(images):
    own = engine.image_size(images["server"]) - engine.image_size(BASE_IMAGE)
    print(f"server image: {engine.image_size(images['server']) / 1e6:.0f} MB, "
          f"{own / 1e6:.0f} MB above {BASE_IMAGE}; ui image: "
          f"{engine.image_size(images['ui']) / 1e6:.0f} MB")  # fmt: skip
    assert own < MAX_OWN_LAYERS


def test_the_stack_answers_on_loopback_only_with_the_champion(stack):
    url = stack.url("serve", "/invocations")
    assert httpx.post(url, json={"dataframe_split": SETOSA}).status_code == 401  # no key
    bearer = {"Authorization": f"Bearer {stack.key}"}
    response = httpx.post(url, json={"dataframe_split": SETOSA}, headers=bearer)
    assert response.status_code == 200, response.text
    answer = response.json()["predictions"][0]
    assert answer["species"] == "setosa" and answer["model_version"] == "1"
    page = httpx.get(stack.url("ui", "/"), timeout=10)
    assert page.status_code == 200
    for service, port in stack.ports.items():
        published = engine.podman("port", stack.container(service)).stdout.split()
        assert published[-1] == f"127.0.0.1:{port}", (service, published)
    # The page reaches the scoring server by its service name, inside the stack's network.
    probe = "import urllib.request; print(urllib.request.urlopen('http://serve:8080/ping').status)"
    inside = engine.podman("exec", stack.container("ui"), "python", "-c", probe).stdout
    assert inside.strip() == "200"
    # ... and scores there with the key the stack gave it ($SCORING_KEY), as the page does.
    score = (
        "from score_client import ScoringClient; c = ScoringClient();"
        " print(c.predict([dict(sepal_length=5.1, sepal_width=3.5, petal_length=1.4,"
        " petal_width=0.2)])[0].species)"
    )
    scored = engine.podman("exec", stack.container("ui"), "python", "-c", score)
    assert scored.stdout.strip() == "setosa", scored.stderr[-2000:]


def test_the_first_model_waited_for_the_tracking_server_and_said_so(stack):
    logs = stack.logs("first-model")
    assert "PROMOTED: 'champion' -> version 1" in logs
    assert "Traceback" not in logs and "Traceback" not in stack.logs("serve")
    assert "waiting for" in logs + stack.logs("serve") + stack.logs("tracking")


def test_the_serving_container_is_not_root(stack):
    for service in ("serve", "tracking", "ui"):
        uid = engine.podman("exec", stack.container(service), "id", "-u").stdout.strip()
        assert uid == "10001", service


def test_the_password_and_the_key_are_in_no_image_log_or_argv(stack, images):
    secrets_of_the_stack = (stack.password, stack.key)
    for image in images.values():
        history = engine.podman("history", "--no-trunc", "--format", "{{.CreatedBy}}", image)
        config = json.dumps(engine.image_config(image))
        for secret in secrets_of_the_stack:
            assert secret not in history.stdout and secret not in config
    for service in ("db", "tracking", "first-model", "serve", "ui"):
        logs = stack.logs(service)
        assert not any(secret in logs for secret in secrets_of_the_stack), service
    for service in ("tracking", "serve", "ui"):
        argv = engine.podman(
            "exec", stack.container(service), "sh", "-c", "cat /proc/[0-9]*/cmdline"
        ).stdout  # fmt: skip
        assert "python" in argv and "cmdline" in argv  # the processes were read
        assert not any(secret in argv for secret in secrets_of_the_stack), service


def test_retraining_is_one_command_and_the_server_follows_without_a_restart(stack):
    started = engine.podman("inspect", stack.container("serve"), "--format", "{{.State.StartedAt}}")
    run = stack.compose("--profile", "retrain", "run", "--rm", "train", timeout=900)
    output = run.stdout + run.stderr
    assert run.returncode in (0, 3), output[-3000:]  # promoted, or kept by the gate
    if run.returncode == 0:
        assert "PROMOTED: 'champion' -> version 2" in output
        assert stack.wait_for_version("2", timeout=120) == "2"
    else:
        assert "NOT PROMOTED" in output
    again = engine.podman("inspect", stack.container("serve"), "--format", "{{.State.StartedAt}}")
    assert again.stdout == started.stdout  # followed, not restarted


def test_down_then_up_serves_the_same_version_and_trains_nothing(stack):
    before = stack.wait_for_version()
    down = stack.compose("down")
    assert down.returncode == 0, down.stderr[-2000:]
    assert stack.volumes(), "down (without -v) keeps the volumes"
    stack.up()
    assert stack.wait_for_version(before) == before
    deadline_logs = ""
    for _ in range(60):
        deadline_logs = stack.logs("first-model")
        if "nothing to train" in deadline_logs:
            break
        time.sleep(2)
    assert f"is version {before} already: nothing to train" in deadline_logs


def test_down_v_removes_the_stacks_volumes(stack):
    result = stack.compose("--profile", "retrain", "down", "-v")
    assert result.returncode == 0, result.stderr[-2000:]
    assert stack.volumes() == []
    containers = engine.podman("ps", "-a", "--format", "{{.Names}}").stdout.split()
    assert not [c for c in containers if c.startswith(stack.name)]
