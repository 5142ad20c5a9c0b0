#!/usr/bin/env python3
"""Checks the container and Kubernetes files in docker/ (ctest: Manifests.Parse).

  python3 tests/manifests/check_manifests.py DOCKER_DIR XIMUP_BINARY

1. Parses every YAML file under DOCKER_DIR (python3-yaml) and checks the fields that matter:
   kinds and apiVersions, completionMode Indexed with completions = parallelism = --shard-count,
   concurrencyPolicy Forbid, non-root security contexts, memory requests and limits that cover
   --max-inflight, the token from a Secret, read-only data, state on a PersistentVolumeClaim,
   JSON logs, the metrics port, and that every flag and XIMUP_* variable given to ximup (and to
   ximup-mock in compose.yaml) is one that `ximup upload --help` (`ximup-mock --help`) lists.
2. Checks docker/Dockerfile and .dockerignore (stages, setup.sh --build-only, user, entrypoint).
3. Schema validation: tools/manifest-schema/validate.mjs (Kubernetes OpenAPI schemas, from the
   npm package kubernetes-models) and dclint (compose-spec schema), when Node.js and the npm
   packages are installed (scripts/setup.sh runs `npm ci` there). Set XIMUP_MANIFEST_SCHEMA=skip
   to skip this part, =require to fail when the packages are missing.
Prints one line per check group and "N passed, N failed" at the end; exit 1 on any failure.
"""
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

try:
    import yaml
except ImportError:  # a python3 first on PATH (pyenv, venv) without PyYAML: use Debian's python3-yaml
    if os.path.exists("/usr/bin/python3") and os.path.realpath(sys.executable) != os.path.realpath("/usr/bin/python3"):
        os.execv("/usr/bin/python3", ["/usr/bin/python3", *sys.argv])
    sys.exit("check_manifests.py: no PyYAML: install python3-yaml (scripts/setup.sh)")

docker_dir = Path(sys.argv[1]).resolve()
ximup_bin = sys.argv[2]
repo = docker_dir.parent
failures: list[str] = []
passed = 0


def check(cond: bool, what: str) -> bool:
    global passed
    if cond:
        passed += 1
    else:
        failures.append(what)
        print(f"FAIL: {what}")
    return cond


def help_flags(binary: str, *args: str) -> set[str]:
    out = subprocess.run([binary, *args, "--help"], capture_output=True, text=True, timeout=60)
    text = out.stdout + out.stderr
    return set(re.findall(r"(?<![\w-])(--[a-z0-9][a-z0-9-]*)", text))


def size_mib(value) -> float:
    """Kubernetes quantity or ximup size (256MiB, 512Mi, 1Gi, 300M) in MiB."""
    m = re.fullmatch(r"\s*([0-9.]+)\s*([A-Za-z]*)\s*", str(value))
    assert m, value
    n, unit = float(m.group(1)), m.group(2).lower().removesuffix("b")
    scale = {"": 1 / 2**20, "k": 1e3 / 2**20, "ki": 1 / 1024, "m": 1e6 / 2**20, "mi": 1,
             "g": 1e9 / 2**20, "gi": 1024}
    return n * scale[unit]


def flag_values(args: list[str]) -> dict[str, str]:
    """--name=value and --name value pairs; a flag without a value maps to ''."""
    values: dict[str, str] = {}
    i = 0
    while i < len(args):
        a = str(args[i])
        if a.startswith("--"):
            if "=" in a:
                k, v = a.split("=", 1)
                values[k] = v
            elif i + 1 < len(args) and not str(args[i + 1]).startswith("-"):
                values[a] = str(args[i + 1])
                i += 1
            else:
                values[a] = ""
        i += 1
    return values


def env_option(name: str) -> str:
    return "--" + name.removeprefix("XIMUP_").lower().replace("_", "-")


upload_flags = help_flags(ximup_bin, "upload")
check("--endpoint" in upload_flags, f"`{ximup_bin} upload --help` lists --endpoint")
mock_bin = Path(ximup_bin).resolve().parent.parent / "mock" / "ximup-mock"
mock_flags = help_flags(str(mock_bin)) if mock_bin.exists() else None


def check_ximup_command(args: list[str], env: dict[str, str], where: str) -> dict[str, str]:
    check(bool(args) and args[0] == "upload", f"{where}: ximup runs `upload`")
    flags = flag_values(args[1:])
    unknown = sorted(f for f in flags if f not in upload_flags)
    check(not unknown, f"{where}: flags that `ximup upload --help` does not list: {unknown}")
    check("--token" not in flags, f"{where}: no --token on the command line (visible in ps)")
    for name in env:
        if name.startswith("XIMUP_"):
            check(env_option(name) in upload_flags,
                  f"{where}: {name} matches no option of `ximup upload --help` ({env_option(name)})")
    json_logs = flags.get("--log-format") == "json" or env.get("XIMUP_LOG_FORMAT") == "json"
    check(json_logs, f"{where}: logs in JSON (--log-format=json or XIMUP_LOG_FORMAT=json)")
    return flags


# ---- YAML files ----
docs: dict[str, list] = {}
for path in sorted(list(docker_dir.rglob("*.yaml")) + list(docker_dir.rglob("*.yml"))):
    rel = str(path.relative_to(repo))
    try:
        docs[rel] = [d for d in yaml.safe_load_all(path.read_text()) if d is not None]
        check(bool(docs[rel]), f"{rel}: has at least one document")
    except yaml.YAMLError as e:
        check(False, f"{rel}: YAML parse error: {e}")
print(f"parsed {sum(len(v) for v in docs.values())} YAML documents in {len(docs)} files")

k8s_objects = [(f, d) for f, ds in docs.items() for d in ds if isinstance(d, dict) and "kind" in d]
known = {"Job": "batch/v1", "CronJob": "batch/v1", "Secret": "v1", "PersistentVolumeClaim": "v1"}
for f, d in k8s_objects:
    check(known.get(d["kind"]) == d.get("apiVersion"),
          f"{f}: {d.get('apiVersion')} {d['kind']} is one of {known}")
    check(bool(d.get("metadata", {}).get("name")), f"{f}: {d['kind']} has metadata.name")

secrets = {d["metadata"]["name"]: d for _, d in k8s_objects if d["kind"] == "Secret"}
pvcs = {d["metadata"]["name"] for _, d in k8s_objects if d["kind"] == "PersistentVolumeClaim"}


def check_pod(f: str, pod: dict, indexed_shards: int | None) -> None:
    spec = pod["spec"]
    check(spec.get("restartPolicy") in ("Never", "OnFailure"), f"{f}: restartPolicy Never or OnFailure")
    psc = spec.get("securityContext", {})
    containers = spec.get("containers", [])
    check(len(containers) == 1, f"{f}: one container")
    c = containers[0]
    csc = c.get("securityContext", {})
    check(psc.get("runAsNonRoot") is True or csc.get("runAsNonRoot") is True, f"{f}: runAsNonRoot: true")
    uid = csc.get("runAsUser", psc.get("runAsUser"))
    check(uid is not None and uid != 0, f"{f}: runAsUser set and not 0")
    check(csc.get("allowPrivilegeEscalation") is False, f"{f}: allowPrivilegeEscalation: false")
    check(":" in c.get("image", "") and not c["image"].endswith(":latest"), f"{f}: image with a fixed tag")

    env = {e["name"]: e for e in c.get("env", [])}
    env_values = {k: str(v.get("value", "")) for k, v in env.items()}
    args = [str(a) for a in c.get("args", [])]
    check("command" not in c, f"{f}: the image's entrypoint (ximup) is used, only args are given")
    flags = check_ximup_command(args, env_values, f)

    # Memory: the request covers --max-inflight, the limit adds at least 128 MiB for the rest.
    res = c.get("resources", {})
    budget = size_mib(flags.get("--max-inflight", "256MiB"))
    req = res.get("requests", {}).get("memory")
    lim = res.get("limits", {}).get("memory")
    check(req is not None and lim is not None, f"{f}: memory request and limit set")
    if req and lim:
        check(size_mib(req) >= budget, f"{f}: memory request {req} >= --max-inflight {budget:.0f} MiB")
        check(size_mib(lim) >= budget + 128, f"{f}: memory limit {lim} >= --max-inflight + 128 MiB")
        check(size_mib(lim) >= size_mib(req), f"{f}: memory limit >= request")
    check("cpu" in res.get("requests", {}), f"{f}: cpu request set")

    # Volumes: data read-only, results and state on a PVC mount, the token from a Secret.
    volumes = {v["name"]: v for v in spec.get("volumes", [])}
    mounts = {m["mountPath"]: m for m in c.get("volumeMounts", [])}

    def volume_of(path: str):
        best = None
        for mp, m in mounts.items():
            if path == mp or path.startswith(mp.rstrip("/") + "/"):
                if best is None or len(mp) > len(best[0]):
                    best = (mp, m)
        return best

    inputs = [a for a in args[1:] if not a.startswith("-")][:1]
    for inp in inputs:
        vm = volume_of(inp)
        check(vm is not None and vm[1].get("readOnly") is True, f"{f}: input {inp} is on a read-only mount")
        if vm:
            pvc = volumes[vm[1]["name"]].get("persistentVolumeClaim", {})
            check(pvc.get("readOnly") is True, f"{f}: the images claim is mounted readOnly")
    for opt in ("--results", "--state"):
        path = flags.get(opt)
        check(bool(path), f"{f}: {opt} given")
        if not path:
            continue
        vm = volume_of(path)
        check(vm is not None and not vm[1].get("readOnly"), f"{f}: {opt} {path} on a writable mount")
        if vm:
            claim = volumes[vm[1]["name"]].get("persistentVolumeClaim", {}).get("claimName")
            check(claim in pvcs, f"{f}: {opt} on a PersistentVolumeClaim defined in docker/k8s ({claim})")
        if indexed_shards:
            check("$(JOB_COMPLETION_INDEX)" in path, f"{f}: {opt} is per shard ($(JOB_COMPLETION_INDEX))")
    token_env = env.get("XIMILAR_API_TOKEN", {}).get("valueFrom", {}).get("secretKeyRef")
    token_secret = None
    if token_env:
        token_secret = token_env["name"]
        check(token_env["key"] in secrets.get(token_secret, {}).get("stringData", {}),
              f"{f}: XIMILAR_API_TOKEN's key is in the example Secret")
    elif "--token-file" in flags:
        vm = volume_of(flags["--token-file"])
        secret = volumes.get(vm[1]["name"], {}).get("secret") if vm else None
        check(secret is not None, f"{f}: --token-file is on a Secret volume")
        if secret:
            token_secret = secret["secretName"]
    check(token_secret is not None, f"{f}: the token comes from a Secret (env or mounted file)")
    if token_secret:
        check(token_secret in secrets, f"{f}: Secret {token_secret} is in docker/k8s (example)")

    # Metrics: --metrics-listen's port is the container port named metrics.
    listen = flags.get("--metrics-listen")
    check(bool(listen), f"{f}: --metrics-listen given")
    if listen:
        port = int(listen.rsplit(":", 1)[1])
        ports = {p.get("name"): p["containerPort"] for p in c.get("ports", [])}
        check(ports.get("metrics") == port, f"{f}: container port 'metrics' is {port}")

    if indexed_shards:
        check(flags.get("--shard-count") == str(indexed_shards),
              f"{f}: --shard-count is completions ({indexed_shards})")
        check("--shard" not in flags, f"{f}: no fixed --shard in an Indexed Job")
        if any("$(JOB_COMPLETION_INDEX)" in a for a in args):
            check("JOB_COMPLETION_INDEX" in env, f"{f}: JOB_COMPLETION_INDEX declared for $(...) expansion")


jobs = [(f, d) for f, d in k8s_objects if d["kind"] == "Job"]
crons = [(f, d) for f, d in k8s_objects if d["kind"] == "CronJob"]
check(len(jobs) >= 1, "docker/k8s has a Job")
check(len(crons) >= 1, "docker/k8s has a CronJob")
check(len(secrets) >= 1, "docker/k8s has an example Secret")
for f, d in jobs:
    s = d["spec"]
    check(s.get("completionMode") == "Indexed", f"{f}: completionMode Indexed")
    n = s.get("completions")
    check(isinstance(n, int) and n >= 1 and s.get("parallelism") == n, f"{f}: completions = parallelism = N")
    check_pod(f, s["template"], n)
for f, d in crons:
    s = d["spec"]
    check(s.get("concurrencyPolicy") == "Forbid", f"{f}: concurrencyPolicy Forbid")
    check(len(str(s.get("schedule", "")).split()) == 5, f"{f}: a five-field schedule")
    check_pod(f, s["jobTemplate"]["spec"]["template"], None)
for name, d in secrets.items():
    check(d.get("type") == "Opaque" and "data" not in d, f"Secret {name}: an Opaque example with stringData")

# compose.yaml
compose = [(f, d) for f, ds in docs.items() for d in ds if isinstance(d, dict) and "services" in d]
check(len(compose) == 1, "docker/compose.yaml is a compose file (services)")
for f, d in compose:
    services = d["services"]
    check({"mock", "ximup"} <= services.keys(), f"{f}: services mock and ximup")
    x = services.get("ximup", {})
    env = x.get("environment", {})
    if isinstance(env, list):
        env = dict(e.split("=", 1) for e in env)
    xflags = check_ximup_command([str(a) for a in x.get("command", [])], env, f"{f} ximup")
    check(any(str(v).endswith(":/data:ro") for v in x.get("volumes", [])), f"{f}: images mounted read-only")
    m = services.get("mock", {})
    check(m.get("entrypoint") == ["ximup-mock"], f"{f}: mock runs ximup-mock from the image")
    mflags = flag_values([str(a) for a in m.get("command", [])])
    check(mflags.get("--listen", "").startswith("0.0.0.0:"), f"{f}: mock listens on 0.0.0.0")
    if mock_flags is not None:
        unknown = sorted(k for k in mflags if k not in mock_flags)
        check(not unknown, f"{f}: mock flags that `ximup-mock --help` does not list: {unknown}")
    tokens = {xflags.get("--token-file"), mflags.get("--token-file")}
    check(len(tokens) == 1 and str(tokens.pop()).startswith("/run/secrets/"),
          f"{f}: mock and ximup read the same token from a compose secret")
    check("api_token" in d.get("secrets", {}), f"{f}: the api_token secret is defined")

# ---- Dockerfile and .dockerignore ----
dockerfile = (docker_dir / "Dockerfile").read_text()
froms = re.findall(r"^FROM\s+(\S+)", dockerfile, re.M)
check(froms == ["debian:bookworm", "debian:bookworm-slim"], f"Dockerfile: stages {froms}")
check(re.search(r"^COPY scripts/setup\.sh", dockerfile, re.M) is not None
      and re.search(r"^RUN scripts/setup\.sh --build-only", dockerfile, re.M) is not None,
      "Dockerfile: the build stage installs with scripts/setup.sh --build-only")
check(re.search(r'^ENTRYPOINT \["ximup"\]\s*$', dockerfile, re.M) is not None, 'Dockerfile: ENTRYPOINT ["ximup"]')
users = re.findall(r"^USER\s+(\S+)", dockerfile, re.M)
check(bool(users) and users[-1].split(":")[0] not in ("0", "root"), f"Dockerfile: runs as a non-root USER ({users})")
check(re.search(r"^ENV XIMUP_LOG_FORMAT=json", dockerfile, re.M) is not None, "Dockerfile: XIMUP_LOG_FORMAT=json")
check("ca-certificates" in dockerfile, "Dockerfile: the runtime stage has ca-certificates")
runtime = dockerfile.split("FROM debian:bookworm-slim", 1)[-1]
check(not re.search(r"-dev\b|build-essential|cmake", runtime), "Dockerfile: no build packages in the runtime stage")
ignore = (repo / ".dockerignore").read_text().split()
check(".git" in ignore and any(p.startswith("build*") for p in ignore), ".dockerignore: .git and build*/")

# ---- schema validation ----
mode = os.environ.get("XIMUP_MANIFEST_SCHEMA", "auto")
tool = repo / "tools" / "manifest-schema"
node = shutil.which("node")
ready = node is not None and (tool / "node_modules" / "kubernetes-models").is_dir() \
    and (tool / "node_modules" / "dclint").is_dir()
if mode == "skip":
    print("schema validation: skipped (XIMUP_MANIFEST_SCHEMA=skip)")
elif not ready:
    msg = "schema validation: Node.js or tools/manifest-schema/node_modules missing (scripts/setup.sh installs them)"
    if mode == "require":
        check(False, msg)
    else:
        print("SKIPPED " + msg)
else:
    yamls = [str(repo / f) for f in docs]
    r = subprocess.run([node, str(tool / "validate.mjs"), *yamls], capture_output=True, text=True, timeout=300)
    print(r.stdout, end="")
    check(r.returncode == 0, "schema validation of docker/ (validate.mjs): " + r.stderr.strip()[-2000:])
    for f, _ in compose:
        r = subprocess.run([node, str(tool / "node_modules" / "dclint" / "bin" / "dclint.cjs"),
                            "--color=false", str(repo / f)], capture_output=True, text=True, timeout=300)
        check(r.returncode == 0, f"{f}: dclint (compose-spec schema and lint rules): {r.stdout}{r.stderr}")
        if r.returncode == 0:
            print(f"dclint {f}: no problems")

print(f"manifests: {passed} passed, {len(failures)} failed")
sys.exit(1 if failures else 0)
