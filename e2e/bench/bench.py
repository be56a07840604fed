#!/usr/bin/env python3
"""The runwisp-operator benchmark: firing skew, apiserver requests, CPU and memory of the operator
against CronJobs under kube-controller-manager, on the local Kubernetes v1.20.2 bed.

Run it through e2e/bench.sh (which builds the operator, prepares a venv for the plot and keeps the
bed torn down on exit). Python 3.11 standard library only; the apiserver is spoken to directly
over HTTPS with the bed's admin token and CA, watches are `curl -N` streams of JSON lines.

Every case gets a fresh bed (fresh etcd): `e2e/cluster.sh up`, then the node and the scheduler
are stopped and the Node object deleted, so Pods are created and stay Pending, unscheduled, and
nothing but the system under test writes to them. See e2e/bench/README.md for what each figure
means exactly.
"""

from __future__ import annotations

import argparse
import base64
import collections
import datetime as dt
import http.client
import json
import math
import os
import re
import shlex
import signal
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from concurrent.futures import ThreadPoolExecutor

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
CLUSTER = os.path.join(REPO, "e2e", "cluster.sh")
CRDS = os.path.join(REPO, "crds", "runwisp.dev.yaml")

SYSTEMS = ["runwisp", "cronjob-v1", "cronjob-v2", "cronjob-v2-qps1000"]
KCM_FLAGS = {
    "cronjob-v1": [],
    "cronjob-v2": ["--feature-gates=CronJobControllerV2=true"],
    "cronjob-v2-qps1000": [
        "--feature-gates=CronJobControllerV2=true",
        "--kube-api-qps=1000",
        "--kube-api-burst=1000",
    ],
}
NS = "bench"
BUSYBOX = "localhost/busybox:1.35"
WRITE_VERBS = {"POST", "PUT", "PATCH", "DELETE", "DELETECOLLECTION", "APPLY"}
# resources the systems under test write; everything else on the bed is background
RESOURCES = {"pods", "jobs", "cronjobs", "events", "runwispruns", "runwisptasks"}
CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")

T_START = time.time()


def log(msg: str) -> None:
    print(f"[bench {time.time() - T_START:7.1f}s {dt.datetime.now():%H:%M:%S}] {msg}", file=sys.stderr, flush=True)


def iso(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts, dt.timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def loadavg() -> list[float]:
    with open("/proc/loadavg") as f:
        return [float(x) for x in f.read().split()[:3]]


def host_cpu() -> tuple[int, int]:
    """(busy, total) jiffies of the whole machine."""
    with open("/proc/stat") as f:
        parts = [int(x) for x in f.readline().split()[1:]]
    idle = parts[3] + (parts[4] if len(parts) > 4 else 0)
    return sum(parts) - idle, sum(parts)


# ---------------------------------------------------------------------------------------------
# processes
# ---------------------------------------------------------------------------------------------
def proc_stat(pid: int) -> list[str] | None:
    """/proc/PID/stat fields after the command name (field 3, the state, comes first)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            s = f.read()
    except OSError:
        return None
    return s[s.rindex(") ") + 2:].split()


def proc_starttime(pid: int) -> str | None:
    rest = proc_stat(pid)
    if rest is None or rest[0] == "Z":
        return None
    return rest[19]


def proc_cpu_s(pid: int) -> float | None:
    rest = proc_stat(pid)
    if rest is None:
        return None
    return (int(rest[11]) + int(rest[12])) / CLK_TCK


def proc_mem_kib(pid: int) -> tuple[int, int] | None:
    """(VmRSS, VmHWM) in KiB."""
    try:
        with open(f"/proc/{pid}/status") as f:
            text = f.read()
    except OSError:
        return None
    rss = re.search(r"^VmRSS:\s+(\d+)", text, re.M)
    hwm = re.search(r"^VmHWM:\s+(\d+)", text, re.M)
    if not rss or not hwm:
        return None
    return int(rss.group(1)), int(hwm.group(1))


class Sampler(threading.Thread):
    """Samples a process's RSS every `period` seconds."""

    def __init__(self, pid: int, period: float = 0.5):
        super().__init__(daemon=True)
        self.pid, self.period = pid, period
        self.samples: list[tuple[float, int]] = []  # (ts, rss KiB)
        self.hwm_kib = 0
        self._halt = threading.Event()

    def run(self) -> None:
        while not self._halt.is_set():
            m = proc_mem_kib(self.pid)
            if m:
                self.samples.append((time.time(), m[0]))
                self.hwm_kib = max(self.hwm_kib, m[1])
            self._halt.wait(self.period)

    def stop(self) -> None:
        self._halt.set()
        self.join(timeout=5)

    def between(self, t0: float, t1: float) -> list[int]:
        return [r for t, r in self.samples if t0 <= t <= t1]


class HostSampler(threading.Thread):
    """The machine's busy/total CPU jiffies every 0.25 s, to tell how busy the host was during a burst."""

    def __init__(self):
        super().__init__(daemon=True)
        self.samples: list[tuple[float, int, int]] = []
        self._halt = threading.Event()
        self.start()

    def run(self) -> None:
        while not self._halt.is_set():
            b, t = host_cpu()
            self.samples.append((time.time(), b, t))
            self._halt.wait(0.25)

    def stop(self) -> None:
        self._halt.set()
        self.join(timeout=5)

    def busy(self, t0: float, t1: float) -> float | None:
        inside = [s for s in self.samples if t0 <= s[0] <= t1]
        if len(inside) < 2:
            return None
        db, dt_ = inside[-1][1] - inside[0][1], inside[-1][2] - inside[0][2]
        return round(db / dt_, 3) if dt_ else None


# ---------------------------------------------------------------------------------------------
# the apiserver
# ---------------------------------------------------------------------------------------------
class ApiError(Exception):
    def __init__(self, status: int, body: bytes, what: str):
        super().__init__(f"{what}: HTTP {status}: {body[:300]!r}")
        self.status = status


class Api:
    """A minimal HTTPS client: one keep-alive connection per thread."""

    def __init__(self, port: int, token: str, ca: str):
        self.port, self.token, self.ca = port, token, ca
        self.ctx = ssl.create_default_context(cafile=ca)
        self.local = threading.local()

    def _conn(self, fresh: bool = False) -> http.client.HTTPSConnection:
        c = getattr(self.local, "conn", None)
        if c is None or fresh:
            if c is not None:
                c.close()
            c = http.client.HTTPSConnection("127.0.0.1", self.port, context=self.ctx, timeout=120)
            self.local.conn = c
        return c

    def request(self, method: str, path: str, body=None, ctype: str = "application/json") -> tuple[int, bytes]:
        data = None
        if body is not None:
            data = body if isinstance(body, bytes) else json.dumps(body).encode()
        headers = {"Authorization": f"Bearer {self.token}", "Accept": "application/json"}
        if data is not None:
            headers["Content-Type"] = ctype
        for attempt in range(6):
            try:
                c = self._conn(fresh=attempt > 0)
                c.request(method, path, body=data, headers=headers)
                r = c.getresponse()
                out = r.read()
            except (OSError, http.client.HTTPException):
                if attempt == 5:
                    raise
                time.sleep(0.2 * (attempt + 1))
                continue
            if r.status in (429, 500, 503, 504) and attempt < 5:
                time.sleep(0.5 * (attempt + 1))
                continue
            return r.status, out
        raise RuntimeError("unreachable")

    def json(self, method: str, path: str, body=None, ctype: str = "application/json", ok=(200, 201)):
        st, out = self.request(method, path, body, ctype)
        if st not in ok:
            raise ApiError(st, out, f"{method} {path}")
        return json.loads(out) if out else None

    def get(self, path: str):
        return self.json("GET", path)

    def text(self, path: str) -> str:
        st, out = self.request("GET", path)
        if st != 200:
            raise ApiError(st, out, f"GET {path}")
        return out.decode()

    def list_all(self, path: str, limit: int = 500) -> list[dict]:
        items, cont = [], None
        while True:
            q = {"limit": str(limit)}
            if cont:
                q["continue"] = cont
            page = self.get(f"{path}?{urllib.parse.urlencode(q)}")
            items += page.get("items") or []
            cont = (page.get("metadata") or {}).get("continue")
            if not cont:
                return items

    def parallel(self, calls, threads: int = 16) -> list:
        """calls: list of (method, path, body, ctype); returns the parsed responses. 409 is success."""

        def one(call):
            method, path, body, ctype = call
            st, out = self.request(method, path, body, ctype)
            if st == 409:
                return None
            if st not in (200, 201):
                raise ApiError(st, out, f"{method} {path}")
            return json.loads(out)

        with ThreadPoolExecutor(threads) as ex:
            return list(ex.map(one, calls))


def apiserver_requests(api: Api) -> collections.Counter:
    """apiserver_request_total by (verb, resource/subresource), summed over codes and versions; and
    the sum of apiserver_request_duration_seconds under the key ("sum", verb, resource)."""
    out: collections.Counter = collections.Counter()
    label_re = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')
    for line in api.text("/metrics").splitlines():
        if line.startswith("apiserver_request_total{"):
            kind = None
        elif line.startswith("apiserver_request_duration_seconds_sum{"):
            kind = "sum"
        elif line.startswith("apiserver_flowcontrol_dispatched_requests_total{"):
            # API Priority and Fairness: requests by flow schema, i.e. by kind of client (the operator
            # runs as a ServiceAccount: "service-accounts"; kube-controller-manager's controllers:
            # "kube-system-service-accounts"; the benchmark itself, admin: "exempt")
            labels_s, _, value = line.rpartition("} ")
            labels = dict(label_re.findall(labels_s))
            out[("flow", labels.get("flowSchema", ""), "")] += float(value)
            continue
        else:
            continue
        labels_s, _, value = line.rpartition("} ")
        labels = dict(label_re.findall(labels_s))
        res = labels.get("resource", "")
        if labels.get("subresource"):
            res += "/" + labels["subresource"]
        key = (labels.get("verb", ""), res) if kind is None else ("sum", labels.get("verb", ""), res)
        out[key] += float(value)
    return out


# ---------------------------------------------------------------------------------------------
# the bed
# ---------------------------------------------------------------------------------------------
class Bed:
    def __init__(self, logdir: str):
        self.env = dict(os.environ)
        self.logdir = logdir
        self.dir = self.env["RUNWISP_BED_DIR"]
        self.api: Api | None = None
        self.vars: dict[str, str] = {}

    def cluster(self, *args: str, check: bool = True, capture: bool = False) -> str:
        with open(os.path.join(self.logdir, "cluster.log"), "a") as lf:
            lf.write(f"\n==== cluster.sh {' '.join(args)} at {dt.datetime.now()}\n")
            lf.flush()
            r = subprocess.run([CLUSTER, *args], env=self.env, stdout=subprocess.PIPE if capture else lf,
                               stderr=lf, text=True)
        if check and r.returncode != 0:
            raise RuntimeError(f"e2e/cluster.sh {' '.join(args)} failed (see {self.logdir}/cluster.log)")
        return r.stdout if capture else ""

    def pid(self, comp: str) -> int | None:
        try:
            with open(os.path.join(self.dir, "pids", f"{comp}.pid")) as f:
                pid_s, st = f.read().split()
        except (OSError, ValueError):
            return None
        pid = int(pid_s)
        return pid if proc_starttime(pid) == st else None

    def up(self) -> None:
        t0 = time.time()
        self.cluster("up")
        for line in self.cluster("env", capture=True).splitlines():
            m = re.match(r"export (\w+)=(.*)$", line)
            if m:
                self.vars[m.group(1)] = m.group(2).strip("'\"")
        with open(self.vars["KUBECONFIG"]) as f:
            token = re.search(r"token:\s*(\S+)", f.read()).group(1)
        self.api = Api(int(self.vars["RUNWISP_API_PORT"]), token, os.path.join(self.dir, "pki", "ca.crt"))
        # No node and no scheduler: Pods are created and stay Pending and unscheduled, and nothing
        # but the system under test writes to them.
        self.stop_component("node", signal.SIGKILL)
        self.stop_component("scheduler", signal.SIGTERM)
        self.api.json("DELETE", f"/api/v1/nodes/{self.vars['RUNWISP_NODE_NAME']}", ok=(200, 202, 404))
        log(f"bed up in {time.time() - t0:.1f}s (node and scheduler stopped)")

    def stop_component(self, comp: str, sig: int) -> None:
        pid = self.pid(comp)
        if pid is None:
            return
        os.kill(pid, sig)
        for _ in range(100):
            if proc_starttime(pid) is None:
                break
            time.sleep(0.1)
        else:
            os.kill(pid, signal.SIGKILL)
            time.sleep(0.3)

    def restart_kcm(self, extra: list[str]) -> None:
        """kube-controller-manager again with the bed's own flags plus `extra`; recorded in the bed's
        pid file so that `e2e/cluster.sh down` stops it."""
        pid = self.pid("kcm")
        if pid is None:
            raise RuntimeError("kube-controller-manager is not running")
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            argv = [a.decode() for a in f.read().split(b"\0") if a]
        self.stop_component("kcm", signal.SIGTERM)
        argv += extra
        logf = open(os.path.join(self.dir, "logs", "kcm.log"), "a")
        logf.write(f"\n==== bench: restarted with {' '.join(extra)}\n")
        logf.flush()
        p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=logf, stderr=subprocess.STDOUT,
                             start_new_session=True)
        logf.close()
        with open(os.path.join(self.dir, "pids", "kcm.pid"), "w") as f:
            f.write(f"{p.pid} {proc_starttime(p.pid)}\n")
        port = next(a.split("=", 1)[1] for a in argv if a.startswith("--secure-port="))
        ctx = ssl._create_unverified_context()
        deadline = time.time() + 60
        while time.time() < deadline:
            if p.poll() is not None:
                raise RuntimeError("kube-controller-manager exited after restart; see its log")
            try:
                c = http.client.HTTPSConnection("127.0.0.1", int(port), context=ctx, timeout=2)
                c.request("GET", "/healthz")
                if c.getresponse().status == 200:
                    break
            except OSError:
                pass
            time.sleep(0.25)
        else:
            raise RuntimeError("kube-controller-manager not healthy after restart")
        time.sleep(2)  # informers sync
        log(f"kube-controller-manager restarted with {' '.join(extra) or 'its default flags'}")

    def down(self) -> None:
        self.cluster("down", check=False)
        self.api = None

    def kubectl(self, *args: str) -> None:
        kubectl = self.vars.get("RUNWISP_KUBECTL", "kubectl")
        env = dict(self.env, KUBECONFIG=self.vars["KUBECONFIG"])
        subprocess.run([kubectl, *args], env=env, check=True, stdout=subprocess.DEVNULL)

    def namespace(self, ns: str) -> None:
        self.api.json("POST", "/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}},
                      ok=(201, 409))
        deadline = time.time() + 60
        while time.time() < deadline:
            st, out = self.api.request("GET", f"/api/v1/namespaces/{ns}/serviceaccounts/default")
            if st == 200 and json.loads(out).get("secrets"):
                return
            time.sleep(0.2)
        raise RuntimeError(f"namespace {ns}: no default ServiceAccount token")

    def operator_kubeconfig(self, path: str) -> str:
        """A kubeconfig for a ServiceAccount bound to cluster-admin: the operator talks to the apiserver
        as a deployed operator does (API Priority and Fairness: workload-low), not as the exempt admin."""
        ns, sa = "runwisp-system", "runwisp-operator"
        self.namespace(ns)
        self.api.json("POST", f"/api/v1/namespaces/{ns}/serviceaccounts",
                      {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": sa}}, ok=(201, 409))
        self.api.json("POST", "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings", {
            "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
            "metadata": {"name": "runwisp-operator-bench"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "cluster-admin"},
            "subjects": [{"kind": "ServiceAccount", "name": sa, "namespace": ns}]}, ok=(201, 409))
        deadline = time.time() + 60
        while True:
            secrets = self.api.get(f"/api/v1/namespaces/{ns}/serviceaccounts/{sa}").get("secrets") or []
            if secrets:
                break
            if time.time() > deadline:
                raise RuntimeError("no token for the operator's ServiceAccount")
            time.sleep(0.2)
        secret = self.api.get(f"/api/v1/namespaces/{ns}/secrets/{secrets[0]['name']}")
        token = base64.b64decode(secret["data"]["token"]).decode()
        with open(self.api.ca, "rb") as f:
            ca = base64.b64encode(f.read()).decode()
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(f"""apiVersion: v1
kind: Config
clusters:
- name: bench
  cluster: {{server: "https://127.0.0.1:{self.api.port}", certificate-authority-data: "{ca}"}}
users:
- name: {sa}
  user: {{token: "{token}"}}
contexts:
- name: bench
  context: {{cluster: bench, user: {sa}}}
current-context: bench
""")
        return path

    def save_logs(self, dest: str) -> None:
        """The bed's component logs, before `down` (the next `up` empties them)."""
        os.makedirs(dest, exist_ok=True)
        for name in ("apiserver.log", "kcm.log", "etcd.log"):
            src = os.path.join(self.dir, "logs", name)
            if os.path.exists(src):
                subprocess.run(["sh", "-c", f"tail -c 20000000 '{src}' > '{os.path.join(dest, name)}'"], check=False)

    def crds(self) -> None:
        self.kubectl("apply", "-f", CRDS)
        self.kubectl("wait", "--for", "condition=established", "--timeout=60s",
                     "crd/runwisptasks.runwisp.dev", "crd/runwispruns.runwisp.dev", "crd/runwispnotifiers.runwisp.dev")


# ---------------------------------------------------------------------------------------------
# watches: when each object first appeared, at the client, with millisecond resolution
# ---------------------------------------------------------------------------------------------
class Watch(threading.Thread):
    """`curl -N` on a watch URL; records the local receipt time of each object's first ADDED event.
    Receipt time is an upper bound of the creation time (it adds the watch's delivery latency);
    metadata.creationTimestamp only has second resolution."""

    def __init__(self, api: Api, path: str, extract):
        super().__init__(daemon=True)
        self.api, self.path, self.extract = api, path, extract
        self.seen: dict[str, tuple[float, object]] = {}  # name -> (first ADDED receipt ts, extract(obj))
        self.added_twice = 0
        self.relisted = 0
        self.rv = api.get(f"{path}?limit=1")["metadata"]["resourceVersion"]
        self._halt = threading.Event()
        self.proc: subprocess.Popen | None = None
        self.hdr = tempfile.NamedTemporaryFile("w", prefix="rwbench-h", delete=False)
        self.hdr.write(f"Authorization: Bearer {api.token}\n")
        self.hdr.close()
        os.chmod(self.hdr.name, 0o600)
        self.start()

    def run(self) -> None:
        while not self._halt.is_set():
            url = (f"https://127.0.0.1:{self.api.port}{self.path}?watch=1&allowWatchBookmarks=true"
                   f"&timeoutSeconds=3600&resourceVersion={self.rv}")
            self.proc = subprocess.Popen(["curl", "-sSN", "--cacert", self.api.ca, "-H", f"@{self.hdr.name}", url],
                                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
            for line in self.proc.stdout:
                ts = time.time()
                try:
                    ev = json.loads(line)
                except ValueError:
                    continue
                obj = ev.get("object") or {}
                meta = obj.get("metadata") or {}
                if ev.get("type") == "ERROR":
                    # 410 Gone: relist; objects found that way get the relist time (flagged)
                    items = self.api.list_all(self.path)
                    for o in items:
                        n = o["metadata"]["name"]
                        if n not in self.seen:
                            self.seen[n] = (time.time(), self.extract(o))
                            self.relisted += 1
                    self.rv = self.api.get(f"{self.path}?limit=1")["metadata"]["resourceVersion"]
                    break
                if meta.get("resourceVersion"):
                    self.rv = meta["resourceVersion"]
                if ev.get("type") == "ADDED":
                    n = meta.get("name")
                    if n in self.seen:
                        self.added_twice += 1
                    else:
                        self.seen[n] = (ts, self.extract(obj))
            self.proc.wait()
            if not self._halt.is_set():
                time.sleep(0.2)

    def stop(self) -> None:
        if self._halt.is_set():
            return
        self._halt.set()
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
        self.join(timeout=5)
        try:
            os.unlink(self.hdr.name)
        except OSError:
            pass


def runwisp_pod_key(pod: dict):
    """(task, scheduled unix seconds) from the run name `<task>-<yyyymmdd>-<hhmm[ss]>`."""
    ann = (pod.get("metadata") or {}).get("annotations") or {}
    run = ann.get("runwisp.dev/run", "")
    task = ann.get("runwisp.dev/task", "")
    m = re.search(r"-(\d{8})-(\d{4}|\d{6})$", run)
    if not m:
        return None
    d, t = m.group(1), m.group(2)
    when = dt.datetime(int(d[:4]), int(d[4:6]), int(d[6:]), int(t[:2]), int(t[2:4]),
                       int(t[4:6]) if len(t) == 6 else 0, tzinfo=dt.timezone.utc)
    return task, int(when.timestamp())


def job_name_key(job: str):
    """(cronjob, scheduled unix seconds) from a CronJob's Job name: 1.20's v1 controller suffixes the
    scheduled time in seconds since the epoch, v2 in minutes."""
    m = re.match(r"^(.*)-(\d+)$", job or "")
    if not m:
        return None
    t = int(m.group(2))
    return m.group(1), (t if t > 10**9 else t * 60)


def cronjob_pod_key(pod: dict):
    labels = (pod.get("metadata") or {}).get("labels") or {}
    k = job_name_key(labels.get("job-name", ""))
    return (k[0], k[1], labels["job-name"]) if k else None


def cronjob_job_key(job: dict):
    return job_name_key((job.get("metadata") or {}).get("name", ""))


# ---------------------------------------------------------------------------------------------
# objects
# ---------------------------------------------------------------------------------------------
def task_name(i: int) -> str:
    return f"t{i:05d}"


def task_body(i: int, cron: str, keep_runs: int = 2, max_concurrent: int = 16) -> dict:
    return {
        "apiVersion": "runwisp.dev/v1alpha1",
        "kind": "RunWispTask",
        "metadata": {"name": task_name(i), "namespace": NS},
        # Without a node no attempt ever ends: maxConcurrent lets every tick of the window start its
        # own Pod (what a CronJob's default concurrencyPolicy: Allow does).
        "spec": {"cron": cron, "run": "true", "keepRuns": keep_runs, "maxConcurrent": max_concurrent},
    }


def cronjob_body(i: int) -> dict:
    return {
        "apiVersion": "batch/v1beta1",
        "kind": "CronJob",
        "metadata": {"name": task_name(i), "namespace": NS},
        "spec": {
            "schedule": "* * * * *",
            "concurrencyPolicy": "Allow",
            "successfulJobsHistoryLimit": 2,
            "failedJobsHistoryLimit": 2,
            "jobTemplate": {"spec": {"backoffLimit": 0, "template": {"spec": {
                "restartPolicy": "Never",
                "terminationGracePeriodSeconds": 5,
                "containers": [{"name": "main", "image": BUSYBOX, "imagePullPolicy": "IfNotPresent",
                                "command": ["/bin/sh", "-e", "-c", "true"]}],
            }}}},
        },
    }


def raw_pod_body() -> dict:
    """Shaped like an attempt Pod (labels, annotations, command), without the owner reference (the
    garbage collector would delete a Pod whose owner does not exist)."""
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "generateName": "raw-",
            "labels": {"app.kubernetes.io/managed-by": "bench", "runwisp.dev/task": "t00000",
                       "runwisp.dev/run": "t00000-20260101-0000", "runwisp.dev/attempt": "1"},
            "annotations": {"runwisp.dev/task": "t00000", "runwisp.dev/run": "t00000-20260101-0000"},
        },
        "spec": {
            "restartPolicy": "Never",
            "terminationGracePeriodSeconds": 5,
            "containers": [{"name": "main", "image": BUSYBOX, "imagePullPolicy": "IfNotPresent",
                            "command": ["/bin/sh", "-e", "-c", "true"]}],
        },
    }


def raw_run_body() -> dict:
    return {
        "apiVersion": "runwisp.dev/v1alpha1",
        "kind": "RunWispRun",
        "metadata": {"generateName": "raw-", "labels": {"app.kubernetes.io/managed-by": "bench"}},
        "spec": {"taskRef": {"name": "t00000"}, "trigger": "cron", "scheduledTime": "2026-01-01T00:00:00Z",
                 "template": task_body(0, "* * * * *")["spec"]},
    }


def create_objects(api: Api, path: str, bodies: list[dict], what: str, threads: int = 16) -> list:
    t0 = time.time()
    out = api.parallel([("POST", path, b, "application/json") for b in bodies], threads)
    log(f"created {len(bodies)} {what} in {time.time() - t0:.1f}s")
    return out


# ---------------------------------------------------------------------------------------------
# the operator
# ---------------------------------------------------------------------------------------------
def free_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


class Operator:
    def __init__(self, binary: str, bed: Bed, logpath: str):
        self.port = free_port()
        kubeconfig = bed.operator_kubeconfig(logpath + ".kubeconfig")
        env = dict(os.environ, KUBECONFIG=kubeconfig, RUST_LOG=os.environ.get("RUST_LOG", "info"))
        self.logf = open(logpath, "w")
        # --start-timeout far beyond the window: Pending attempt Pods are not turned into start_failed
        self.proc = subprocess.Popen(
            [binary, "run", "--admin-addr", f"127.0.0.1:{self.port}", "--default-image", BUSYBOX,
             "--start-timeout", "2h", *shlex.split(os.environ.get("RUNWISP_BENCH_OPERATOR_ARGS", ""))],
            env=env, stdin=subprocess.DEVNULL, stdout=self.logf, stderr=subprocess.STDOUT)
        self.pid = self.proc.pid
        self.started = time.time()

    def get(self, path: str) -> tuple[int, str]:
        try:
            c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
            c.request("GET", path)
            r = c.getresponse()
            return r.status, r.read().decode()
        except OSError:
            return 0, ""

    def metrics(self) -> dict[str, float]:
        out = {}
        for line in self.get("/metrics")[1].splitlines():
            if line.startswith("#") or not line.strip():
                continue
            k, _, v = line.rpartition(" ")
            try:
                out[k] = float(v)
            except ValueError:
                pass
        return out

    def wait_ready(self, timeout: float = 300) -> float:
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("the operator exited; see its log")
            if self.get("/readyz")[0] == 200:
                return time.time() - self.started
            time.sleep(0.1)
        raise RuntimeError("the operator did not become ready")

    def wait_reconciled(self, n: int, timeout: float = 900) -> float:
        """Until every task had its first reconcile: the count of reconciles reaches n, then stops
        moving for 2 s or 10 s pass (a large N keeps the operator busy with the ticks that come
        meanwhile: there may be no quiet moment)."""
        deadline = time.time() + timeout
        last, still, reached = -1.0, 0.0, None
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("the operator exited; see its log")
            c = self.metrics().get("runwisp_reconcile_duration_seconds_count", 0)
            if c >= n:
                reached = reached or time.time()
                still = still + 0.5 if c == last else 0
                if still >= 2 or time.time() - reached >= 10:
                    return time.time() - self.started
            last = c
            time.sleep(0.5)
        raise RuntimeError(f"the operator did not reconcile {n} tasks in {timeout}s")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.logf.close()


def histogram_quantiles(before: dict, after: dict, name: str) -> dict | None:
    """Bucket-resolution p50/p99 of a Prometheus histogram's increase: the upper bound of the bucket
    the quantile falls in."""
    buckets = []
    for k, v in after.items():
        m = re.match(rf'^{name}_bucket\{{le="([^"]+)"\}}$', k)
        if m:
            le = math.inf if m.group(1) == "+Inf" else float(m.group(1))
            buckets.append((le, v - before.get(k, 0)))
    buckets.sort()
    if not buckets or buckets[-1][1] <= 0:
        return None
    total = buckets[-1][1]

    def q(p):
        for le, c in buckets:
            if c >= p * total:
                return None if le == math.inf else le * 1000
        return None

    return {"count": int(total), "p50_le_ms": q(0.5), "p99_le_ms": q(0.99)}


# ---------------------------------------------------------------------------------------------
# statistics
# ---------------------------------------------------------------------------------------------
def pct(sorted_vals: list[float], p: float) -> float:
    """Nearest-rank percentile."""
    if not sorted_vals:
        return math.nan
    k = max(0, math.ceil(p / 100 * len(sorted_vals)) - 1)
    return sorted_vals[k]


def summary_ms(vals_s: list[float]) -> dict | None:
    if not vals_s:
        return None
    v = sorted(vals_s)
    return {"p50": round(pct(v, 50) * 1000), "p99": round(pct(v, 99) * 1000), "max": round(v[-1] * 1000),
            "n": len(v)}


def next_minute(ts: float) -> int:
    return (int(ts) // 60 + 1) * 60


def sleep_until(ts: float) -> None:
    while True:
        d = ts - time.time()
        if d <= 0:
            return
        time.sleep(min(d, 1.0))


class Snapshot:
    def __init__(self, api: Api, pid: int | None, op: Operator | None, bed: Bed | None = None):
        self.ts = time.time()
        self.requests = apiserver_requests(api)
        self.cpu = proc_cpu_s(pid) if pid else None
        self.components = {}
        if bed:
            for c in ("apiserver", "etcd", "kcm"):
                p = bed.pid(c)
                self.components[c] = proc_cpu_s(p) if p else None
            self.components["operator"] = proc_cpu_s(op.pid) if op else None
        self.load = loadavg()
        self.host = host_cpu()
        self.op_metrics = op.metrics() if op else None


def request_figures(before: Snapshot, after: Snapshot, firings: int) -> dict | None:
    if firings <= 0:
        return None
    delta = collections.Counter()
    for k, v in after.requests.items():
        d = v - before.requests.get(k, 0)
        if d > 0:
            delta[k] = d
    by_verb = collections.Counter()
    by_res = collections.Counter()
    reads_res = collections.Counter()
    latency = {}
    other_writes = 0
    flows = {}
    for k, d in delta.items():
        if k[0] == "flow":
            flows[k[1]] = round(d / firings, 3)
            continue
        if k[0] == "sum":
            continue
        verb, res = k
        if res.split("/")[0] in RESOURCES and verb in WRITE_VERBS:
            latency[f"{verb} {res}"] = round(delta.get(("sum", verb, res), 0) / d * 1000, 1)
        base = res.split("/")[0]
        if base in RESOURCES:
            by_verb[verb] += d
            if verb in WRITE_VERBS:
                by_res[f"{verb} {res}"] += d
            elif verb != "WATCH":
                reads_res[f"{verb} {res}"] += d
        elif verb in WRITE_VERBS:
            other_writes += d
    writes = sum(v for k, v in by_verb.items() if k in WRITE_VERBS)
    return {
        "writes": round(writes / firings, 2),
        "by_verb": {k: round(v / firings, 3) for k, v in sorted(by_verb.items())},
        "writes_by_resource": {k: round(v / firings, 3) for k, v in sorted(by_res.items())},
        "reads_by_resource": {k: round(v / firings, 3) for k, v in sorted(reads_res.items())},
        "background_writes_total": int(other_writes),
        # mean time the apiserver took to serve each kind of write in the window
        "apiserver_write_latency_ms": dict(sorted(latency.items())),
        # every request (any resource) per firing, by APF flow schema
        "requests_by_flow_schema": dict(sorted(flows.items())),
        "firings": firings,
    }


def host_figures(before: Snapshot, after: Snapshot) -> dict:
    busy = after.host[0] - before.host[0]
    total = after.host[1] - before.host[1]
    return {"loadavg_start": before.load, "loadavg_end": after.load,
            "host_cpu_busy": round(busy / total, 3) if total else None}


# ---------------------------------------------------------------------------------------------
# the cases
# ---------------------------------------------------------------------------------------------
class Bench:
    def __init__(self, args):
        self.args = args
        self.out = args.out
        self.logdir = args.logdir
        os.makedirs(self.logdir, exist_ok=True)
        self.raw: dict | None = None

    def meta(self) -> dict:
        return {
            "measured_at": iso(time.time()),
            "machine": {"cpus": os.cpu_count(), "kernel": os.uname().release, "mem_gib": round(os.sysconf("SC_PHYS_PAGES") * PAGE / 2**30, 1)},
            "operator": self.args.operator_version,
            # extra flags given to the operator for this run (RUNWISP_BENCH_OPERATOR_ARGS), if any
            "operator_args": os.environ.get("RUNWISP_BENCH_OPERATOR_ARGS") or None,
        }

    # -- the physical limit ---------------------------------------------------------------------
    def raw_limit(self) -> dict:
        """Pods (and RunWispRuns) per second one client creates: curl over one HTTP/2 connection,
        64 and 256 requests in flight."""
        bed = Bed(self.logdir)
        log("== physical limit: how fast one client creates Pods on this apiserver")
        try:
            bed.up()
            bed.crds()
            bed.namespace(NS)
            res: dict = {"load_start": loadavg()}
            with tempfile.TemporaryDirectory() as td:
                hdr = os.path.join(td, "h")
                with open(hdr, "w") as f:
                    f.write(f"Authorization: Bearer {bed.api.token}\nContent-Type: application/json\n")
                for kind, path, body, n, par in [
                    ("pods_seq", f"/api/v1/namespaces/{NS}/pods", raw_pod_body(), 300, 1),
                    ("pods_p64", f"/api/v1/namespaces/{NS}/pods", raw_pod_body(), self.args.raw_count, 64),
                    ("pods_p256", f"/api/v1/namespaces/{NS}/pods", raw_pod_body(), self.args.raw_count, 256),
                    ("runs_p64", f"/apis/runwisp.dev/v1alpha1/namespaces/{NS}/runwispruns", raw_run_body(),
                     self.args.raw_count, 64),
                ]:
                    bf = os.path.join(td, f"{kind}.json")
                    with open(bf, "w") as f:
                        json.dump(body, f)
                    cfg = os.path.join(td, f"{kind}.cfg")
                    with open(cfg, "w") as f:
                        for _ in range(n):
                            f.write(f'url = "https://127.0.0.1:{bed.api.port}{path}"\noutput = "/dev/null"\n')
                    cmd = ["curl", "-sS", "--http2", "-Z", "--parallel-max", str(par), "--cacert", bed.api.ca,
                           "-H", f"@{hdr}", "--data-binary", f"@{bf}", "-w", "%{http_code}\n", "-K", cfg]
                    cpu0 = {c: proc_cpu_s(bed.pid(c)) for c in ("apiserver", "etcd")}
                    t0 = time.time()
                    r = subprocess.run(cmd, capture_output=True, text=True)
                    el = time.time() - t0
                    cpu1 = {c: proc_cpu_s(bed.pid(c)) for c in ("apiserver", "etcd")}
                    codes = collections.Counter(r.stdout.split())
                    ok = codes.get("201", 0)
                    res[kind] = {"created": ok, "seconds": round(el, 2), "per_s": round(ok / el, 1),
                                 "parallel": par, "codes": dict(codes),
                                 "apiserver_cpu_s": round(cpu1["apiserver"] - cpu0["apiserver"], 2),
                                 "etcd_cpu_s": round(cpu1["etcd"] - cpu0["etcd"], 2)}
                    log(f"   {kind}: {ok} created in {el:.2f}s = {ok / el:.0f}/s (codes {dict(codes)})")
            res["pod_creates_per_s"] = max(res["pods_p64"]["per_s"], res["pods_p256"]["per_s"])
            res["run_creates_per_s"] = res["runs_p64"]["per_s"]
            res["load_end"] = loadavg()
            res["measured_at"] = iso(time.time())
            return res
        finally:
            bed.down()

    # -- one (system, N) case -------------------------------------------------------------------
    def case(self, system: str, n: int, scenario: str) -> dict:
        log(f"== {system}, {n} tasks, {scenario}")
        bed = Bed(self.logdir)
        op = None
        watches: list[Watch] = []
        sampler = hostsampler = None
        try:
            bed.up()
            if system != "runwisp" and KCM_FLAGS[system]:
                bed.restart_kcm(KCM_FLAGS[system])
            if system == "runwisp":
                bed.crds()
            bed.namespace(NS)
            api = bed.api
            if system == "runwisp":
                pods = Watch(api, f"/api/v1/namespaces/{NS}/pods", runwisp_pod_key)
                watches.append(pods)
                jobs = None
                if scenario == "spread":
                    crons = [f"{i % 60} * * * * *" for i in range(n)]
                else:
                    crons = ["* * * * *"] * n
                create_objects(api, f"/apis/runwisp.dev/v1alpha1/namespaces/{NS}/runwisptasks",
                               [task_body(i, crons[i]) for i in range(n)], "RunWispTasks")
                op = Operator(self.args.operator, bed, os.path.join(self.logdir, f"operator-{n}-{scenario}.log"))
                sampler = Sampler(op.pid)
                sampler.start()
                ready = op.wait_ready()
                reconciled = op.wait_reconciled(n)
                log(f"operator ready after {ready:.1f}s, every task reconciled after {reconciled:.1f}s")
                pid = op.pid
            else:
                pods = Watch(api, f"/api/v1/namespaces/{NS}/pods", cronjob_pod_key)
                jobs = Watch(api, f"/apis/batch/v1/namespaces/{NS}/jobs", cronjob_job_key)
                watches += [pods, jobs]
                create_objects(api, f"/apis/batch/v1beta1/namespaces/{NS}/cronjobs",
                               [cronjob_body(i) for i in range(n)], "CronJobs")
                pid = bed.pid("kcm")
                sampler = Sampler(pid)
                sampler.start()
                ready = reconciled = None

            ticks = self.args.ticks
            t1 = next_minute(time.time() + self.args.margin)
            if scenario == "spread":
                first, end_sched = t1, t1 + 60 * ticks  # scheduled times in [first, end_sched)
                tick_times = list(range(first, end_sched))
                expected = {(task_name(i), t) for i in range(n) for t in tick_times if t % 60 == i % 60}
                deadline = end_sched + 30
            else:
                tick_times = [t1 + 60 * k for k in range(ticks)]
                expected = {(task_name(i), t) for i in range(n) for t in tick_times}
                deadline = tick_times[-1] + self.args.drain
            log(f"measuring ticks {iso(tick_times[0])} .. {iso(tick_times[-1])} ({len(expected)} firings expected)")
            hostsampler = HostSampler()
            sleep_until(t1 - 3)
            before = Snapshot(api, pid, op, bed)
            # done: every expected firing has its Pod, then 5 s for the trailing writes
            done_at = None
            while time.time() < deadline:
                if done_at is None and time.time() > tick_times[-1]:
                    got = sum(1 for v in list(pods.seen.values()) if v[1] and (v[1][0], v[1][1]) in expected)
                    if got >= len(expected):
                        done_at = time.time()
                if done_at and time.time() > done_at + 5:
                    break
                if op and op.proc.poll() is not None:
                    raise RuntimeError("the operator exited during the measurement")
                time.sleep(0.5)
            after = Snapshot(api, pid, op, bed)
            for w in watches:
                w.stop()
            sampler.stop()
            hostsampler.stop()

            # -- skew
            skews, per_tick = [], collections.defaultdict(list)
            per_key = collections.Counter()
            firings_in_window = 0
            for name, (ts, key) in pods.seen.items():
                if not key:
                    continue
                if before.ts <= ts <= after.ts:
                    firings_in_window += 1
                k = (key[0], key[1])
                if k not in expected:
                    continue
                per_key[k] += 1
                skews.append(ts - key[1])
                per_tick[key[1] if scenario != "spread" else (key[1] // 60) * 60].append(ts - key[1])
            with open(os.path.join(self.logdir, f"skews-{system}-{n}-{scenario}.json"), "w") as f:
                json.dump({"pods": {name: [round(ts, 3), key and list(key)] for name, (ts, key) in pods.seen.items()},
                           "jobs": jobs and {name: [round(ts, 3), key and list(key)] for name, (ts, key) in jobs.seen.items()},
                           "window": [before.ts, after.ts]}, f)
            seen_keys = set(per_key)
            missed = len(expected - seen_keys)
            # a missed firing's skew is at least (deadline - its tick): with misses the percentiles are
            # lower bounds over every expected firing ("censored"); skew_seen_ms covers the seen ones
            censored = skews + [deadline - k[1] for k in expected - seen_keys]
            duplicates = sum(c - 1 for c in per_key.values() if c > 1) + pods.added_twice
            row = {
                "system": system,
                "tasks": n,
                "scenario": scenario,
                "ticks": ticks,
                "firings_expected": len(expected),
                "firings_seen": len(seen_keys),
                "missed": missed,
                "duplicates": duplicates,
                "skew_ms": summary_ms(censored) if missed else summary_ms(skews),
                "skew_censored": missed,
                "skew_seen_ms": summary_ms(skews),
                "skew_per_tick_ms": [dict(tick=iso(t), **(summary_ms(v) or {})) for t, v in sorted(per_tick.items())],
                "job_skew_ms": None,
                "requests_per_firing": request_figures(before, after, firings_in_window),
                "rss_mib": None,
                "cpu_s_per_firing": None,
                "kcm": None,
                "window_s": round(after.ts - before.ts, 1),
                "watch_relisted": pods.relisted,
                "setup": {"operator_ready_s": ready and round(ready, 1),
                          "all_reconciled_s": reconciled and round(reconciled, 1)},
                "host": host_figures(before, after),
                **self.meta(),
            }
            row["cpu_s_by_component"] = {
                c: round(after.components[c] - before.components[c], 2)
                for c in after.components if after.components[c] is not None and before.components.get(c) is not None}
            for t in row["skew_per_tick_ms"]:
                if t.get("max") is not None:
                    t0 = dt.datetime.fromisoformat(t["tick"].replace("Z", "+00:00")).timestamp()
                    t["host_busy"] = hostsampler.busy(t0, t0 + t["max"] / 1000)
            rss = sampler.between(before.ts, after.ts)
            mem = {"steady": round(statistics.median(rss) / 1024, 1) if rss else None,
                   "window_peak": round(max(rss) / 1024, 1) if rss else None,
                   "peak": round(sampler.hwm_kib / 1024, 1)}
            cpu = (after.cpu - before.cpu) / firings_in_window if firings_in_window and after.cpu is not None else None
            if system == "runwisp":
                row["rss_mib"] = mem
                row["cpu_s_per_firing"] = cpu and round(cpu, 5)
                row["operator_histogram"] = histogram_quantiles(before.op_metrics, after.op_metrics,
                                                                "runwisp_firing_skew_seconds")
                am, bm = after.op_metrics, before.op_metrics
                row["operator_counters"] = {
                    "firings_cron": am.get('runwisp_firings_total{trigger="cron"}', 0)
                    - bm.get('runwisp_firings_total{trigger="cron"}', 0),
                    "missed_runs": am.get('runwisp_runs_finished_total{end_reason="missed"}', 0)
                    - bm.get('runwisp_runs_finished_total{end_reason="missed"}', 0),
                    "reconciles": am.get("runwisp_reconcile_duration_seconds_count", 0)
                    - bm.get("runwisp_reconcile_duration_seconds_count", 0),
                    "reconcile_mean_ms": round(1000 * (am.get("runwisp_reconcile_duration_seconds_sum", 0)
                                                       - bm.get("runwisp_reconcile_duration_seconds_sum", 0))
                                               / max(1, am.get("runwisp_reconcile_duration_seconds_count", 0)
                                                     - bm.get("runwisp_reconcile_duration_seconds_count", 0)), 1),
                    "reconcile_errors": sum(v for k, v in am.items() if k.startswith("runwisp_reconcile_errors_total"))
                    - sum(v for k, v in bm.items() if k.startswith("runwisp_reconcile_errors_total")),
                }
                # missed records and run counts per tick, from the API (after the window)
                runs = api.list_all(f"/apis/runwisp.dev/v1alpha1/namespaces/{NS}/runwispruns")
                row["missed_run_records"] = sum(1 for r in runs if r["metadata"]["name"].endswith("-missed"))
            else:
                row["kcm"] = {"rss_mib": mem, "cpu_s_per_firing": cpu and round(cpu, 5)}
                jskews = [ts - key[1] for _, (ts, key) in jobs.seen.items() if key and key in expected]
                row["job_skew_ms"] = summary_ms(jskews)
                row["jobs_seen"] = len(jskews)
            if scenario != "spread" and self.raw:
                row["burst"] = burst_figures(row, per_tick, n, self.raw)
            log(f"   skew {row['skew_ms']}, missed {missed}, duplicates {duplicates}, "
                f"writes/firing {row['requests_per_firing'] and row['requests_per_firing']['writes']}, "
                f"rss {row['rss_mib'] or row['kcm']['rss_mib']}")
            return row
        finally:
            cleanup(*[w.stop for w in watches], sampler and sampler.stop, hostsampler and hostsampler.stop, op and op.stop,
                    lambda: bed.save_logs(os.path.join(self.logdir, f"bed-{system}-{n}-{scenario}")), bed.down)

    # -- memory at scale --------------------------------------------------------------------------
    def memory(self, n: int, retained: int) -> dict:
        """RSS of the operator holding n tasks and `retained` finished runs (each with a template
        snapshot and one attempt record with a 256-byte output tail). The tasks are yearly
        (`0 0 1 1 *`) so that nothing fires: this is the state's cost."""
        log(f"== memory: {n} tasks + {retained} retained finished runs")
        bed = Bed(self.logdir)
        op = sampler = None
        try:
            bed.up()
            bed.crds()
            bed.namespace(NS)
            api = bed.api
            per_task = max(1, retained // n)
            tasks = create_objects(api, f"/apis/runwisp.dev/v1alpha1/namespaces/{NS}/runwisptasks",
                                   [task_body(i, "0 0 1 1 *", keep_runs=per_task) for i in range(n)], "RunWispTasks")
            base = (int(time.time()) // 60 - per_task - 5) * 60
            tail = ("ok: backup written to /srv/backups/app-20260101T000000Z.dump.gz (12.4 MiB)\n" * 4)[:256]
            runs, statuses = [], []
            for i, t in enumerate(tasks):
                for k in range(per_task):
                    sched = base + 60 * k
                    stamp = dt.datetime.fromtimestamp(sched, dt.timezone.utc)
                    name = f"{t['metadata']['name']}-{stamp:%Y%m%d-%H%M}"
                    runs.append({
                        "apiVersion": "runwisp.dev/v1alpha1", "kind": "RunWispRun",
                        "metadata": {"name": name, "namespace": NS,
                                     "labels": {"app.kubernetes.io/managed-by": "runwisp-operator",
                                                "runwisp.dev/task": t["metadata"]["name"]},
                                     "ownerReferences": [{"apiVersion": "runwisp.dev/v1alpha1", "kind": "RunWispTask",
                                                          "name": t["metadata"]["name"], "uid": t["metadata"]["uid"],
                                                          "controller": True, "blockOwnerDeletion": True}]},
                        "spec": {"taskRef": {"name": t["metadata"]["name"]}, "trigger": "cron",
                                 "scheduledTime": iso(sched), "template": t["spec"]},
                    })
                    statuses.append((name, {"status": {
                        "phase": "Succeeded", "endReason": "success", "exitCode": 0, "attemptCount": 1,
                        "startTime": iso(sched + 1), "completionTime": iso(sched + 3),
                        "attempts": [{"number": 1, "podName": f"{name}-a1", "startTime": iso(sched + 1),
                                      "finishTime": iso(sched + 3), "exitCode": 0, "endReason": "success",
                                      "logTail": tail}]}}))
            create_objects(api, f"/apis/runwisp.dev/v1alpha1/namespaces/{NS}/runwispruns", runs, "RunWispRuns")
            t0 = time.time()
            api.parallel([("PATCH", f"/apis/runwisp.dev/v1alpha1/namespaces/{NS}/runwispruns/{name}/status", body,
                           "application/merge-patch+json") for name, body in statuses])
            log(f"finished {len(statuses)} runs (status) in {time.time() - t0:.1f}s")
            op = Operator(self.args.operator, bed, os.path.join(self.logdir, f"operator-memory-{n}.log"))
            sampler = Sampler(op.pid)
            sampler.start()
            ready = op.wait_ready()
            reconciled = op.wait_reconciled(n)
            log(f"operator ready after {ready:.1f}s, every task reconciled after {reconciled:.1f}s; "
                f"steady for {self.args.memory_window}s")
            before = Snapshot(api, op.pid, op)
            time.sleep(self.args.memory_window)
            after = Snapshot(api, op.pid, op)
            sampler.stop()
            rss = sampler.between(before.ts, after.ts)
            remaining = len(api.list_all(f"/apis/runwisp.dev/v1alpha1/namespaces/{NS}/runwispruns"))
            row = {
                "system": "runwisp", "tasks": n, "scenario": f"retained-{retained // 1000}k",
                "retained_runs": len(runs), "runs_after": remaining,
                "skew_ms": None, "requests_per_firing": None, "cpu_s_per_firing": None,
                "rss_mib": {"steady": round(statistics.median(rss) / 1024, 1) if rss else None,
                            "window_peak": round(max(rss) / 1024, 1) if rss else None,
                            "peak": round(sampler.hwm_kib / 1024, 1)},
                "idle_cpu_s_per_min": round((after.cpu - before.cpu) / (after.ts - before.ts) * 60, 3),
                "setup": {"operator_ready_s": round(ready, 1), "all_reconciled_s": round(reconciled, 1)},
                "host": host_figures(before, after),
                **self.meta(),
            }
            log(f"   rss {row['rss_mib']}, runs after {remaining}")
            return row
        finally:
            cleanup(sampler and sampler.stop, op and op.stop,
                    lambda: bed.save_logs(os.path.join(self.logdir, f"bed-memory-{n}")), bed.down)


def cleanup(*steps) -> None:
    """Runs every step, whatever the others do (the bed must always go down)."""
    for step in steps:
        if not step:
            continue
        try:
            step()
        except Exception as e:  # noqa: BLE001 - report and go on
            log(f"cleanup: {step}: {e}")


def burst_figures(row: dict, per_tick: dict, n: int, raw: dict) -> dict:
    """N simultaneous firings against the apiserver's raw rate. Throughput of a tick: its Pods over
    the time from the tick to its last Pod. Bound: N x writes per firing / raw Pod-create rate."""
    rates = []
    for t, v in per_tick.items():
        if len(v) == n and max(v) > 0:
            rates.append(n / max(v))
    pods_per_s = statistics.median(rates) if rates else None
    rpf = row.get("requests_per_firing") or {}
    writes = rpf.get("writes")
    raw_rate = raw["pod_creates_per_s"]
    out = {"pods_per_s": pods_per_s and round(pods_per_s, 1),
           "raw_pod_creates_per_s": raw_rate,
           "fraction_of_raw_pod_rate": pods_per_s and round(pods_per_s / raw_rate, 3),
           "writes_per_s": pods_per_s and writes and round(pods_per_s * writes, 1),
           "fraction_of_raw_write_rate": pods_per_s and writes and round(pods_per_s * writes / raw_rate, 3)}
    if writes and row.get("skew_ms"):
        bound_ms = n * writes / raw_rate * 1000
        out["bound_ms"] = round(bound_ms)
        out["p99_over_bound"] = round(row["skew_ms"]["p99"] / bound_ms, 2)
        # the same bound with each resource's own raw rate (CRD writes against RunWispRun creates)
        wr = rpf.get("writes_by_resource") or {}
        pod_w = sum(v for k, v in wr.items() if k.split(" ")[1].split("/")[0] == "pods")
        crd_w = writes - pod_w
        mixed = n * (pod_w / raw_rate + crd_w / raw["run_creates_per_s"]) * 1000
        out["bound_mixed_ms"] = round(mixed)
        out["p99_over_bound_mixed"] = round(row["skew_ms"]["p99"] / mixed, 2)
    return out


# ---------------------------------------------------------------------------------------------
def load_rows(path: str) -> list[dict]:
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return []


def save_row(path: str, row: dict) -> None:
    rows = [r for r in load_rows(path)
            if (r.get("system"), r.get("tasks"), r.get("scenario")) != (row["system"], row["tasks"], row["scenario"])]
    rows.append(row)
    order = {s: i for i, s in enumerate(SYSTEMS)}
    rows.sort(key=lambda r: (r.get("scenario", "") != "burst", r.get("scenario", ""), r["tasks"],
                             order.get(r["system"], 9)))
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(rows, f, indent=1)
        f.write("\n")
    os.replace(tmp, path)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--tasks", type=int, action="append", help="a size (repeatable); default 100 1000 5000 10000")
    p.add_argument("--systems", default=",".join(SYSTEMS))
    p.add_argument("--ticks", type=int, default=2, help="minutes (ticks) measured per case")
    p.add_argument("--drain", type=int, default=90, help="seconds after the last tick a Pod may still count")
    p.add_argument("--margin", type=int, default=8, help="seconds between setup and the first measured tick")
    p.add_argument("--spread", choices=["auto", "yes", "no"], default="auto",
                   help="the 6-field cron case, tasks spread over the minute (auto: at 10000 tasks)")
    p.add_argument("--memory", choices=["auto", "yes", "no"], default="auto",
                   help="10000 tasks + 30000 retained runs (auto: when 10000 is among the sizes)")
    p.add_argument("--memory-tasks", type=int, default=10000)
    p.add_argument("--memory-runs", type=int, default=30000)
    p.add_argument("--memory-window", type=int, default=60)
    p.add_argument("--raw-count", type=int, default=2000, help="Pods created for the physical limit")
    p.add_argument("--operator", required=True)
    p.add_argument("--operator-version", default="")
    p.add_argument("--out", required=True, help="results dir (results.json)")
    p.add_argument("--logdir", required=True)
    args = p.parse_args()
    sizes = args.tasks or [100, 1000, 5000, 10000]
    systems = [s for s in args.systems.split(",") if s]
    for s in systems:
        if s not in SYSTEMS:
            p.error(f"unknown system {s}")
    os.makedirs(args.out, exist_ok=True)
    results = os.path.join(args.out, "results.json")
    bench = Bench(args)

    def on_signal(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_signal)
    timings = []
    t0 = time.time()
    bench.raw = bench.raw_limit()
    timings.append(("physical limit", time.time() - t0))
    failed = []

    def attempt(label, fn):
        t = time.time()
        try:
            row = fn()
        except KeyboardInterrupt:
            raise
        except Exception as e:  # noqa: BLE001 - one failed case must not lose the others
            log(f"{label}: FAILED: {e}")
            failed.append(label)
            return
        row.setdefault("apiserver_raw", bench.raw)
        save_row(results, row)
        timings.append((label, time.time() - t))

    for n in sizes:
        for s in systems:
            attempt(f"{s} {n}", lambda: bench.case(s, n, "burst"))
        if "runwisp" in systems and (args.spread == "yes" or (args.spread == "auto" and n == 10000)):
            attempt(f"runwisp {n} spread", lambda: bench.case("runwisp", n, "spread"))
    if args.memory == "yes" or (args.memory == "auto" and 10000 in sizes):
        attempt("memory", lambda: bench.memory(args.memory_tasks, args.memory_runs))
    log("done; time per case: " + ", ".join(f"{k} {v / 60:.1f} min" for k, v in timings)
        + f"; total {(time.time() - t0) / 60:.1f} min")
    if failed:
        log("failed cases: " + ", ".join(failed))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
