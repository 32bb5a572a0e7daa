"""Rollout workers on other hosts: network namespaces joined by veth pairs.

The test builds three "hosts" on this machine: the learner's namespace L and
two worker namespaces A and B, each joined to L by its own veth pair
(L 10.231.1.1 <-> A 10.231.1.2, L 10.231.2.1 <-> B 10.231.2.2). The
namespaces have no other interface and no route out, so no packet leaves
them; the fixture removes them. It needs root (`ip netns`), as CI runs.

- `r1 rl` in L, sampling on a worker in A and one in B, equals `r1 rl` in
  one process: the same rows in rollouts.db and the same final weights.
- A worker binds only the address it is given: inside A, its port is closed
  on 127.0.0.1.
- A network partition: once A has answered step 2, A's link goes down
  (packets vanish; no reset reaches L). The learner gives up on A after
  rollout_timeout, names it, samples its prompts on B, and the run ends
  equal to the in-process one.
"""
import os
import shutil
import subprocess

import pytest

from r1_cli import R1, r1, write_auth_key
from test_rl_cli import base, write_config  # noqa: F401 (the tiny model fixture)
from test_rl_workers import assert_same_run, wait_for_worker_line

pytestmark = pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("ip"),
                                reason="network namespaces need root and iproute2")


def ip(*args):
    subprocess.run(["ip", *args], check=True, capture_output=True, text=True)


@pytest.fixture
def hosts():
    tag = f"{os.getpid() % 100000}"
    ns = {"L": f"r1l{tag}", "A": f"r1a{tag}", "B": f"r1b{tag}"}
    try:
        for name in ns.values():
            ip("netns", "add", name)
            ip("-n", name, "link", "set", "lo", "up")
        for i, host in enumerate(("A", "B"), start=1):
            near, far = f"r1{tag}l{host}", f"r1{tag}{host}"
            ip("link", "add", near, "netns", ns["L"], "type", "veth", "peer", "name", far, "netns", ns[host])
            ip("-n", ns["L"], "addr", "add", f"10.231.{i}.1/24", "dev", near)
            ip("-n", ns[host], "addr", "add", f"10.231.{i}.2/24", "dev", far)
            ip("-n", ns["L"], "link", "set", near, "up")
            ip("-n", ns[host], "link", "set", far, "up")
        yield ns
    finally:
        for name in ns.values():
            subprocess.run(["ip", "netns", "del", name], capture_output=True)


def start_worker(ns, address, model, key, log):
    with open(log, "w") as err:
        proc = subprocess.Popen(["ip", "netns", "exec", ns, R1, "rollout", "serve", "--listen", f"{address}:0",
                                 "--auth-key-file", str(key), "--model", str(model), "--threads", "1"],
                                stdout=subprocess.PIPE, stderr=err, text=True)
    line = proc.stdout.readline()
    assert line.startswith(f"listening on {address}:"), open(log).read()
    return proc, line.split()[-1]


@pytest.fixture
def workers(base, hosts):
    key = write_auth_key(base / "netns.key")
    started = [start_worker(hosts[h], f"10.231.{i}.2", base / "model", key, base / f"netns_{h}.log")
               for i, h in enumerate(("A", "B"), start=1)]
    yield key, [a for _, a in started], [p for p, _ in started]
    for proc, _ in started:
        proc.kill()
        proc.wait(timeout=60)


def in_namespace(ns, *cmd, **kw):
    return subprocess.run(["ip", "netns", "exec", ns, *map(str, cmd)], capture_output=True, text=True, **kw)


def test_rl_across_hosts_equals_rl_in_process(base, hosts, workers):
    key, addresses, _ = workers
    r1("rl", "--config", str(write_config(base, "netns_local", max_steps=4, save_steps=100)))
    config = write_config(base, "netns_workers", max_steps=4, save_steps=100, rollout_workers=addresses,
                          rollout_auth_key_file=str(key))
    run = in_namespace(hosts["L"], R1, "rl", "--config", config, timeout=600)
    assert run.returncode == 0, run.stderr
    assert "dropped" not in run.stderr
    assert_same_run(base / "netns_workers", base / "netns_local")
    for host in ("A", "B"):
        assert (base / f"netns_{host}.log").read_text().count("answered step") >= 4


def test_a_worker_binds_only_its_address(hosts, workers):
    _, addresses, _ = workers
    port = int(addresses[0].rsplit(":", 1)[1])
    probe = ("import socket, sys\n"
             "s = socket.socket(); s.settimeout(5)\n"
             "sys.exit(s.connect_ex((sys.argv[1], int(sys.argv[2]))))\n")
    assert in_namespace(hosts["A"], "python3", "-c", probe, "127.0.0.1", port).returncode != 0
    assert in_namespace(hosts["L"], "python3", "-c", probe, "10.231.1.2", port).returncode == 0


def test_a_partitioned_worker_is_dropped_and_nothing_is_lost(base, hosts, workers):
    key, addresses, _ = workers
    r1("rl", "--config", str(write_config(base, "netns_local8", max_steps=8, save_steps=100)))
    config = write_config(base, "netns_cut", max_steps=8, save_steps=100, rollout_workers=addresses,
                          rollout_auth_key_file=str(key), rollout_timeout=5)
    run = subprocess.Popen(["ip", "netns", "exec", hosts["L"], R1, "rl", "--config", str(config)],
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    wait_for_worker_line(base / "netns_A.log", "answered step 2 ", run, "worker A")
    tag = hosts["A"][3:]
    ip("-n", hosts["A"], "link", "set", f"r1{tag}A", "down")
    _, stderr = run.communicate(timeout=300)
    assert run.returncode == 0, stderr
    assert f"dropped a rollout worker: rollout worker {addresses[0]}: " in stderr
    assert_same_run(base / "netns_cut", base / "netns_local8")
