"""How fast the ``ipfs-kit`` command starts and hashes, each as a whole process (issue 10).

    .venv/bin/python benchmarks/bench_cli_start.py [--size-mib 512] [--runs 5]

- ``ipfs-kit version`` on a repo with no server (target: under 0.15 s)
- ``ipfs-kit add -Q -n FILE`` of a generated file vs a whole-process ``hashlib.sha256``
  script reading the same file in 1 MiB reads (target: ratio sha256 time / our time >= 0.8)
- for reference, the same add through the full CLI (``python -m ipfs_kit_py.cli``: typer,
  the repo opened, the model), which ``ipfs-kit`` skips for ``add -n`` (ipfs_kit_py/cli_entry.py)

Wall times are the median of ``--runs`` (the rounds alternate the commands); CPU times
(user + system of the child) are given beside them, since a loaded machine stretches
wall time; the CPU ratio is the same quotient of CPU times. The importer hashes with a
second thread only when a core is free (``importer.hash_threads``: the cores this
process may use minus the 1-minute load), so on a busy machine ``add`` hashes in one
thread, as the script does. The file is generated from a fixed seed and read once before timing (page
cache). Nothing here touches the network.

Bytecode: an installed package starts from compiled ``.pyc`` files (pip writes them at
install time). A checkout run with ``PYTHONDONTWRITEBYTECODE=1`` (as some sandboxes set
it) compiles every ipfs_kit_py module it imports at every start instead, about 30-40 ms
for ``add -n``. So the children run with bytecode cached under a ``PYTHONPYCACHEPREFIX``
in the temporary directory (nothing is written into the checkout), after one warm-up run
of every command, for the baseline and ours alike; ``--no-bytecode-cache`` measures the
other way.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from ipfs_kit_py.content.importer import hash_threads

ROOT = Path(__file__).resolve().parent.parent
SHA256_SCRIPT = """\
import hashlib, sys
h = hashlib.sha256()
with open(sys.argv[1], "rb") as f:
    while chunk := f.read(1 << 20):
        h.update(chunk)
print(h.hexdigest())
"""


def make_file(path: Path, size: int, seed: int = 10) -> None:
    """``size`` bytes from a fixed seed: the same file, and so the same CID, every run."""
    rng = random.Random(seed)
    with open(path, "wb") as f:
        left = size
        while left:
            n = min(left, 1 << 20)
            f.write(rng.randbytes(n))
            left -= n


def timed(cmd: list[str], env: dict[str, str]) -> tuple[float, float, str]:
    """(wall seconds, CPU seconds, stdout) of one whole process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    p = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT, timeout=600)
    wall = time.perf_counter() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if p.returncode:
        raise RuntimeError(f"{cmd} failed: {p.stderr.strip()}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, p.stdout.strip()


def summary(samples: list[tuple[float, float, str]]) -> dict[str, float]:
    return {"wall_s": round(statistics.median(s[0] for s in samples), 3),
            "wall_min_s": round(min(s[0] for s in samples), 3),
            "cpu_s": round(statistics.median(s[1] for s in samples), 3)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--size-mib", type=int, default=512)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--version-runs", type=int, default=20)
    ap.add_argument("--no-bytecode-cache", action="store_true",
                    help="compile the modules at every start, as with PYTHONDONTWRITEBYTECODE=1")
    args = ap.parse_args()
    python = sys.executable
    ipfs_kit = str(Path(python).parent / "ipfs-kit")  # the console script, as a user runs it
    if not os.path.exists(ipfs_kit):
        sys.exit(f"{ipfs_kit} is missing: run bash scripts/setup.sh")
    with tempfile.TemporaryDirectory() as tmp_s:
        tmp = Path(tmp_s)
        data = tmp / "data.bin"
        make_file(data, args.size_mib << 20)
        (tmp / "sha.py").write_text(SHA256_SCRIPT)
        with open(data, "rb") as f:  # into the page cache before any timing
            while f.read(8 << 20):
                pass
        # a repo with no server, and no IPFS_KIT_ setting from this shell: the defaults
        env = {k: v for k, v in os.environ.items() if not k.startswith("IPFS_KIT_")}
        env["IPFS_KIT_PATH"] = str(tmp / "repo")
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        if args.no_bytecode_cache:
            env["PYTHONDONTWRITEBYTECODE"] = "1"
        else:
            env["PYTHONPYCACHEPREFIX"] = str(tmp / "pycache")
        commands = {
            "version": [ipfs_kit, "version"],
            "sha256": [python, str(tmp / "sha.py"), str(data)],
            "add_n": [ipfs_kit, "add", "-Q", "-n", str(data)],
            "add_n_full_cli": [python, "-m", "ipfs_kit_py.cli", "add", "-Q", "-n", str(data)],
        }
        samples: dict[str, list[tuple[float, float, str]]] = {k: [] for k in commands}
        load_before = os.getloadavg()[0]
        for cmd in commands.values():  # warm-up: bytecode cached, the same for every command
            timed(cmd, env)
        for _ in range(args.version_runs):
            samples["version"].append(timed(commands["version"], env))
        for _ in range(args.runs):
            for name in ("sha256", "add_n", "add_n_full_cli"):
                samples[name].append(timed(commands[name], env))
        cids = {s[2] for s in samples["add_n"]} | {s[2] for s in samples["add_n_full_cli"]}
        if len(cids) != 1:
            raise RuntimeError(f"the two CLI paths disagree on the CID: {cids}")
        result = {k: summary(v) for k, v in samples.items()}
        result["add_n_ratio"] = round(result["sha256"]["wall_s"] / result["add_n"]["wall_s"], 2)
        result["add_n_ratio_cpu"] = round(result["sha256"]["cpu_s"] / result["add_n"]["cpu_s"], 2)
        result["add_n_full_cli_ratio"] = round(result["sha256"]["wall_s"] / result["add_n_full_cli"]["wall_s"], 2)
        result["size_mib"] = args.size_mib
        result["cid"] = cids.pop()
        result["cpus"] = os.cpu_count()
        result["load_avg_1m"] = [round(load_before, 2), round(os.getloadavg()[0], 2)]  # before and after
        # how many threads an add would hash with now (importer.hash_threads: by the free cores)
        result["hash_threads_now"] = hash_threads()
        result["bytecode"] = "compiled at every start" if args.no_bytecode_cache else "cached"
    print(json.dumps(result, indent=2))
    v, ratio = result["version"]["wall_s"], result["add_n_ratio"]
    print(f"ipfs-kit version: {v:.3f} s (target < 0.15); add -Q -n {args.size_mib} MiB: {ratio:.2f}x sha256 "
          f"(target >= 0.8); full CLI path: {result['add_n_full_cli_ratio']:.2f}x", file=sys.stderr)


if __name__ == "__main__":
    main()
