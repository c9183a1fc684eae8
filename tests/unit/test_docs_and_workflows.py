"""The docs build, every documented command exists, and the workflows run what the Makefile runs."""

from __future__ import annotations

import importlib
import importlib.util
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
DOCS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]


def makefile_targets() -> set[str]:
    return set(re.findall(r"^([a-z][a-z0-9-]*):", (REPO / "Makefile").read_text(), flags=re.M))


def bash_lines(path: Path) -> list[str]:
    """Command lines of ```bash blocks, continuation lines joined."""
    lines: list[str] = []
    for block in re.findall(r"```bash\n(.*?)```", path.read_text(), flags=re.S):
        joined = block.replace("\\\n", " ")
        lines += [
            line.strip()
            for line in joined.splitlines()
            if line.strip() and not line.strip().startswith("#")
        ]
    return lines


def subcommands(parser_module: str) -> set[str]:
    module = importlib.import_module(parser_module)
    parser = module.build_parser()
    actions = [a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction"]
    return set(actions[0].choices) if actions else set()


def runnable_from_checkout(module: str) -> bool:
    """`python -m <module>` from the checkout's root: its folders (ui, deploy) or an installed module."""
    from importlib.machinery import PathFinder

    top = module.split(".")[0]
    return PathFinder.find_spec(top, [str(REPO)]) is not None or (
        importlib.util.find_spec(module) is not None
    )


def deploy_flags(sub: str) -> set[str]:
    """Every long option `python -m deploy <sub>` accepts, global ones included."""
    from iris_ml_deploy.cli import build_parser

    parser = build_parser()
    subparsers = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction")
    actions = [*parser._actions, *subparsers.choices[sub]._actions]
    return {o for a in actions for o in a.option_strings if o.startswith("--")}


def test_the_azure_walkthrough_names_every_setting_cd_needs():
    text = (REPO / "docs" / "azure.md").read_text()
    cd = (REPO / ".github" / "workflows" / "cd.yml").read_text()
    for variable in set(re.findall(r"vars\.([A-Z_]+)", cd)):
        assert f"`{variable}`" in text, f"docs/azure.md does not say to set {variable}"
    from iris_ml_deploy.settings import ENV

    for variable in ENV.values():
        assert f"export {variable}=" in text, f"the walkthrough never sets {variable}"
    assert "az ad sp create --id" in text and "Contributor role is needed" in text
    credentials = next(
        line for line in bash_lines(REPO / "docs" / "azure.md") if "get-credentials" in line
    )
    assert all(f in credentials for f in ('-n "$IRIS_ENDPOINT_NAME"', "-g ", "-w "))


def test_mkdocs_builds_strict(tmp_path):
    result = subprocess.run(
        [str(BIN / "mkdocs"), "build", "--strict", "--site-dir", str(tmp_path / "site")],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    client_page = (tmp_path / "site" / "client" / "index.html").read_text()
    assert "ScoringClient" in client_page and "Score rows" in client_page  # from the docstrings


@pytest.mark.parametrize("doc", DOCS, ids=[p.name for p in DOCS])
def test_every_documented_command_exists(doc):
    targets = makefile_targets()
    score_cmds = subcommands("score_client.cli")
    deploy_cmds = subcommands("iris_ml_deploy.cli")
    for line in bash_lines(doc):
        for part in re.split(r"&&|\|", line.split(" #")[0]):
            words = (
                shlex.split(part.replace("$(", "").replace(")", ""), posix=True)
                if part.strip()
                else []
            )
            words = [
                w for w in words if "=" not in w or w.startswith("-")
            ]  # drop VAR=value prefixes
            if not words:
                continue
            if words[0] == "make":
                for target in (w for w in words[1:] if not w.startswith("-") and "=" not in w):
                    assert target in targets, (
                        f"{doc.name}: `{line}` names no Makefile target {target!r}"
                    )
            if "-m" in words:
                module = words[words.index("-m") + 1]
                assert runnable_from_checkout(module), f"{doc.name}: no module {module}"
                rest = words[words.index("-m") + 2 :]
                if module == "deploy":
                    sub = next(w for w in rest if not w.startswith("-"))
                    assert sub in deploy_cmds, (
                        f"{doc.name}: `python -m deploy {sub}` does not exist"
                    )
                    unknown = {w for w in rest if w.startswith("--")} - deploy_flags(sub)
                    assert not unknown, f"{doc.name}: `{line}` uses unknown flags {unknown}"
            if words[0].endswith("score-client"):
                sub = next(
                    w for w in words[1:] if not w.startswith("-") and not w.startswith("http")
                )
                assert sub in score_cmds, f"{doc.name}: `score-client {sub}` does not exist"
            if words[0].endswith("train.py") or (len(words) > 1 and words[1] == "train.py"):
                assert (REPO / "train.py").is_file()


def test_readme_gives_the_two_commands_and_ci_runs_make_test():
    readme = (REPO / "README.md").read_text()
    assert "make demo" in readme and "make test" in readme
    assert {"demo", "test"} <= makefile_targets()
    assert re.search(r"^make test$", (REPO / ".ci" / "run").read_text(), flags=re.M)


def workflow(name: str) -> dict:
    return yaml.safe_load((REPO / ".github" / "workflows" / name).read_text())


def test_workflows_match_githubs_schema():
    files = sorted(str(p) for p in (REPO / ".github" / "workflows").glob("*.yml"))
    result = subprocess.run(
        [str(BIN / "check-jsonschema"), "--builtin-schema", "vendor.github-workflows", *files],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_schema_check_catches_a_broken_workflow(tmp_path):
    broken = tmp_path / "broken.yml"
    broken.write_text(
        "on: push\njobs:\n  x:\n    runs-on: ubuntu-24.04\n    steps:\n      - uses: actions/checkout@v4\n        run: echo both\n    timeout-minutes: soon\n"
    )
    result = subprocess.run(
        [str(BIN / "check-jsonschema"), "--builtin-schema", "vendor.github-workflows", str(broken)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode != 0


def all_steps(wf: dict):
    for job in wf["jobs"].values():
        yield from job.get("steps", [])


@pytest.mark.parametrize("name", ["ci.yml", "cd.yml", "images.yml"])
def test_actions_are_pinned_and_permissions_least_privilege(name):
    wf = workflow(name)
    assert wf["permissions"] == {"contents": "read"}
    assert "concurrency" in wf
    for step in all_steps(wf):
        if "uses" in step:
            assert re.search(r"@(v\d+\.\d+\.\d+|[0-9a-f]{40})$", step["uses"]), (
                f"unpinned action {step['uses']}"
            )


def test_ci_runs_the_makefile_commands_in_order():
    wf = workflow("ci.yml")
    triggers = wf[True] if True in wf else wf["on"]  # YAML 1.1 reads `on` as True
    assert "pull_request" in triggers and triggers["push"]["branches"] == ["main"]
    targets = makefile_targets()
    runs = {
        job: [s["run"] for s in spec["steps"] if "run" in s] for job, spec in wf["jobs"].items()
    }
    make_runs = {job: [r for r in rs if r.startswith("make ")] for job, rs in runs.items()}
    assert make_runs == {
        "lint": ["make lint"],
        "unit": ["make test-unit"],
        "integration": ["make test-integration"],
        "docs": ["make docs"],
    }
    assert all(r.split()[1] in targets for rs in make_runs.values() for r in rs)
    assert wf["jobs"]["unit"]["needs"] == "lint" and wf["jobs"]["integration"]["needs"] == "unit"
    assert wf["jobs"]["unit"]["strategy"]["matrix"]["python-version"] == ["3.11", "3.12"]
    # `make test` is exactly lint + the whole suite, which CI splits into the jobs above.
    makefile = (REPO / "Makefile").read_text()
    assert re.search(r"^test: lint ##", makefile, flags=re.M)
    lint_recipe = re.search(
        r"^lint: setup secrets ##.*\n((?:\t.*\n)+)", makefile, flags=re.M
    ).group(1)
    assert "ruff check" in lint_recipe and "ruff format --check" in lint_recipe


def test_cd_uses_oidc_a_guarded_environment_and_skips_when_unconfigured():
    wf = workflow("cd.yml")
    text = (REPO / ".github" / "workflows" / "cd.yml").read_text()
    assert "secrets." not in text and "AZURE_CREDENTIALS" not in text
    assert "skipping CD" in text and "IRIS_ENDPOINT_NAME" in wf["jobs"]["check"]["steps"][0]["run"]
    for name in ("train", "deploy"):  # each long phase logs in again: tokens expire
        job = wf["jobs"][name]
        assert job["permissions"]["id-token"] == "write"
        assert job["environment"] == "production"
        logins = [s for s in job["steps"] if s.get("uses", "").startswith("azure/login@")]
        assert len(logins) == 1 and set(logins[0]["with"]) == {
            "client-id",
            "tenant-id",
            "subscription-id",
        }
        checkout = next(s for s in job["steps"] if s.get("uses", "").startswith("actions/checkout"))
        assert checkout["with"]["ref"] == "${{ env.COMMIT }}"  # the commit CI passed on
    assert wf["jobs"]["train"]["if"] == "needs.check.outputs.configured == 'true'"
    assert wf["jobs"]["deploy"]["if"] == "needs.train.outputs.promoted == 'true'"
    deploy = wf["jobs"]["deploy"]
    runs = [s["run"] for s in deploy["steps"] if "run" in s]
    targets = makefile_targets()
    for r in runs:
        if r.startswith("make "):
            assert r.split()[1] in targets
    assert any("azure-deploy" in r for r in runs) and any("GITHUB_STEP_SUMMARY" in r for r in runs)


def test_cd_runs_only_after_ci_succeeded_and_a_gate_rejection_is_green():
    wf = workflow("cd.yml")
    triggers = wf[True] if True in wf else wf["on"]
    assert "push" not in triggers
    assert triggers["workflow_run"] == {
        "workflows": [workflow("ci.yml")["name"]],
        "types": ["completed"],
        "branches": ["main"],
    }
    assert "workflow_run.conclusion == 'success'" in wf["jobs"]["check"]["if"]
    assert wf["env"]["COMMIT"] == "${{ github.event.workflow_run.head_sha || github.sha }}"
    train = next(s for s in wf["jobs"]["train"]["steps"] if s.get("id") == "train")["run"]
    # `python -m deploy train` exits 4 when the gate rejected the model (tests/unit/deploy/test_deploy.py)
    assert '"$code" -eq 4' in train and "promoted=false" in train and "exit 0" in train


def test_the_page_is_deployed_by_the_digest_its_build_pushed_with_attestations():
    wf = workflow("images.yml")
    text = (REPO / ".github" / "workflows" / "images.yml").read_text()
    build, page = wf["jobs"]["build"], wf["jobs"]["page"]
    pushes = {
        s["id"]: s for s in build["steps"] if s.get("uses", "").startswith("docker/build-push")
    }
    assert set(pushes) == {"server", "ui"}
    for step in pushes.values():
        assert step["with"]["push"] is True and step["with"]["sbom"] is True
        assert step["with"]["provenance"] == "mode=max"
        assert "REVISION=${{ env.COMMIT }}" in step["with"]["build-args"]
    attested = {
        s["with"]["subject-digest"]
        for s in build["steps"]
        if s.get("uses", "").startswith("actions/attest-build-provenance")
    }
    assert attested == {f"${{{{ steps.{i}.outputs.digest }}}}" for i in pushes}
    assert build["outputs"]["ui-digest"] == "${{ steps.ui.outputs.digest }}"
    deploy = next(s for s in page["steps"] if s.get("uses", "").startswith("azure/webapps-deploy"))
    # The deployed image is the digest the build job produced, not a tag that can move.
    assert deploy["with"]["images"].endswith("-ui@${{ needs.build.outputs.ui-digest }}")
    assert page["needs"] == "build" and page["environment"] == "production"
    assert page["permissions"] == {"contents": "read", "id-token": "write"}  # OIDC, no secret
    login = next(s for s in page["steps"] if s.get("uses", "").startswith("azure/login@"))
    assert set(login["with"]) == {"client-id", "tenant-id", "subscription-id"}
    # No literal secret: the only credential is the job's own token; the page's key is an app setting.
    assert (
        "secrets." not in text
        and "SCORING_KEY:" not in text
        and "password: ${{ github.token }}" in text
    )
