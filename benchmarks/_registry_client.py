"""Client side of benchmarks/registry.py: the MLflow registry workload, one operation per request.

Runs under the MLflow virtualenv's python (``benchmarks/.envs/mlflow``), never moorline's,
so both servers are driven by the same unmodified ``mlflow`` client. The server is chosen by
``MLFLOW_TRACKING_URI`` (the registry URI follows it). The benchmark sends one JSON request
per line on stdin and reads one JSON reply per line on stdout; between the two it reads the
server's CPU time, so each operation here does exactly the work being measured and times
only that (``wall_s``).

Every operation also checks what it got back (the version numbers handed out, the versions
a search finds, the version an alias resolves to) and reports it, so the benchmark can
refuse to compare a server that answers fast but wrong.
"""

from __future__ import annotations

import json
import sys
import time
import traceback
from collections.abc import Callable
from typing import Any

import mlflow
from mlflow import MlflowClient

EXPERIMENT = "bench-registry"
MODEL_PATH = "model"
CATALOG_TAG = "team"


def op_hello(client: MlflowClient, _: dict[str, Any]) -> dict[str, Any]:
    """Warm the connection and report the client version."""
    client.search_experiments(max_results=1)
    return {"mlflow_version": mlflow.__version__}


def op_setup_run(client: MlflowClient, _: dict[str, Any]) -> dict[str, Any]:
    """One finished run with a small model directory at ``model/``; every version points at it.

    The files go through the server's artifact proxy, as a real ``log_model`` would send them.
    """
    experiment = client.get_experiment_by_name(EXPERIMENT)
    experiment_id = (
        experiment.experiment_id if experiment is not None else client.create_experiment(EXPERIMENT)
    )
    run_id = client.create_run(experiment_id, run_name="trained").info.run_id
    client.log_text(run_id, "artifact_path: model\nflavors: {}\n", f"{MODEL_PATH}/MLmodel")
    client.log_dict(run_id, {"weights": list(range(64))}, f"{MODEL_PATH}/weights.json")
    client.set_terminated(run_id)
    files = sorted(f.path for f in client.list_artifacts(run_id, MODEL_PATH))
    return {"run_id": run_id, "source": f"runs:/{run_id}/{MODEL_PATH}", "files": files}


def op_setup_catalog(client: MlflowClient, req: dict[str, Any]) -> dict[str, Any]:
    """``models`` registered models named ``<prefix>NNNN``, each with a tag, ``versions``
    versions and the alias ``champion`` on version 1: what ``search_registered_models`` lists.
    """
    prefix, source, run_id = req["prefix"], req["source"], req["run_id"]
    started = time.perf_counter()
    for i in range(req["models"]):
        name = f"{prefix}{i:04d}"
        client.create_registered_model(name, tags={CATALOG_TAG: f"t{i % 10}"})
        for _ in range(req["versions"]):
            client.create_model_version(name, source, run_id)
        client.set_registered_model_alias(name, "champion", "1")
    return {"wall_s": time.perf_counter() - started}


def op_create_model(client: MlflowClient, req: dict[str, Any]) -> dict[str, Any]:
    """A fresh, empty registered model for one round's versions."""
    model = client.create_registered_model(req["name"])
    return {"name": model.name}


def op_register(client: MlflowClient, req: dict[str, Any]) -> dict[str, Any]:
    """``versions`` ``create_model_version`` calls into one model, one HTTP request each.

    ``in_order`` says whether the server numbered them 1, 2, ..., ``versions`` and reported
    each one READY, with the given source and run.
    """
    name, source, run_id, count = req["name"], req["source"], req["run_id"], req["versions"]
    created = []
    started = time.perf_counter()
    for _ in range(count):
        created.append(client.create_model_version(name, source, run_id))
    wall = time.perf_counter() - started
    in_order = all(
        mv.version in (i + 1, str(i + 1))
        and mv.status == "READY"
        and mv.source == source
        and mv.run_id == run_id
        for i, mv in enumerate(created)
    )
    return {"wall_s": wall, "count": len(created), "in_order": in_order}


def op_search_versions(client: MlflowClient, req: dict[str, Any]) -> dict[str, Any]:
    """``repeat`` identical ``search_model_versions`` calls for every version of one model.

    ``count`` is the size of each answer (the smallest, should they differ) and ``complete``
    whether every answer held exactly versions 1..``expected``, each with its run and source.
    """
    name, expected = req["name"], req["expected"]
    wanted = {str(v) for v in range(1, expected + 1)}
    answers = []
    started = time.perf_counter()
    for _ in range(req["repeat"]):
        answers.append(
            client.search_model_versions(f"name = '{name}'", max_results=req["max_results"])
        )
    wall = time.perf_counter() - started
    complete = all(
        {str(mv.version) for mv in page} == wanted
        and all(
            mv.name == name and mv.run_id == req["run_id"] and mv.source == req["source"]
            for mv in page
        )
        for page in answers
    )
    return {
        "wall_s": wall,
        "count": min(len(page) for page in answers),
        "complete": complete,
        "next_page_token": answers[0].token,
    }


def op_search_models(client: MlflowClient, req: dict[str, Any]) -> dict[str, Any]:
    """``repeat`` identical ``search_registered_models`` calls over the catalog models.

    ``complete`` says whether every answer held exactly the catalog's names, each with its
    tag and its latest version.
    """
    prefix, models = req["prefix"], req["models"]
    wanted = {f"{prefix}{i:04d}" for i in range(models)}
    answers = []
    started = time.perf_counter()
    for _ in range(req["repeat"]):
        answers.append(
            client.search_registered_models(
                f"name LIKE '{prefix}%'", max_results=req["max_results"]
            )
        )
    wall = time.perf_counter() - started
    complete = all(
        {m.name for m in page} == wanted
        and all(
            m.tags.get(CATALOG_TAG) == f"t{int(m.name[len(prefix) :]) % 10}"
            and [str(v.version) for v in m.latest_versions] == [str(req["versions"])]
            for m in page
        )
        for page in answers
    )
    return {
        "wall_s": wall,
        "count": min(len(page) for page in answers),
        "complete": complete,
    }


def op_set_alias(client: MlflowClient, req: dict[str, Any]) -> dict[str, Any]:
    """Point ``alias`` of model ``name`` at ``version`` (not timed: done once per round)."""
    client.set_registered_model_alias(req["name"], req["alias"], str(req["version"]))
    return {}


def op_resolve_alias(client: MlflowClient, req: dict[str, Any]) -> dict[str, Any]:
    """``calls`` ``get_model_version_by_alias`` calls; ``correct`` counts the answers that
    named the expected version, carried the alias, and kept the source and run."""
    name, alias, version = req["name"], req["alias"], str(req["version"])
    answers = []
    started = time.perf_counter()
    for _ in range(req["calls"]):
        answers.append(client.get_model_version_by_alias(name, alias))
    wall = time.perf_counter() - started
    correct = sum(
        1
        for mv in answers
        if mv.name == name
        and str(mv.version) == version
        and alias in mv.aliases
        and mv.source == req["source"]
        and mv.run_id == req["run_id"]
    )
    return {"wall_s": wall, "count": len(answers), "correct": correct}


OPERATIONS: dict[str, Callable[[MlflowClient, dict[str, Any]], dict[str, Any]]] = {
    "hello": op_hello,
    "setup_run": op_setup_run,
    "setup_catalog": op_setup_catalog,
    "create_model": op_create_model,
    "register": op_register,
    "search_versions": op_search_versions,
    "search_models": op_search_models,
    "set_alias": op_set_alias,
    "resolve_alias": op_resolve_alias,
}


def main() -> int:
    # The replies own stdout: whatever the client prints (artifact upload progress, notices)
    # goes to stderr, the worker's log, instead of corrupting the protocol.
    replies, sys.stdout = sys.stdout, sys.stderr
    client = MlflowClient()
    for line in sys.stdin:
        request = json.loads(line)
        try:
            reply = {"ok": True, **OPERATIONS[request["op"]](client, request)}
        except Exception as exc:  # reported to the benchmark, which stops with it
            detail = traceback.format_exc(limit=3)
            reply = {"ok": False, "error": f"{type(exc).__name__}: {exc}\n{detail}"}
        replies.write(json.dumps(reply) + "\n")
        replies.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
