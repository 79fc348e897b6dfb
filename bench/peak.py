"""This CPU's float32 peak, measured rather than computed from a clock: the denominator of model FLOP utilization.

    python bench/peak.py

``cores x clock x FLOPs per cycle`` needs the clock the cores really run at, and a virtual machine's
``/proc/cpuinfo`` gives its nominal clock only: on this machine (AMD EPYC, 2 vCPUs, 2026-11-30) it says 2,596 MHz,
so 166 GFLOP/s, while TensorFlow's 2048^2 matmul ran at 204 GFLOP/s, above that "peak". So :func:`fp32_peak` runs
``bench/fma_peak.c`` instead: one thread per core, each issuing independent fused multiply-adds on the widest
vectors the compiler targets, so that only the FMA pipes limit it. Here it gave 234 GFLOP/s, both with 512-bit and with
256-bit vectors: 32 FLOPs per cycle per core (Zen 4's two 256-bit FMA pipes) at about 3.65 GHz. Standard library
only, so that :mod:`torch_reference` can use it outside GenForge's environment.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

SOURCE = Path(__file__).with_name("fma_peak.c")


def fp32_peak() -> float:
    """The float32 FLOP/s of every core this process may run on (``os.sched_getaffinity``), measured by
    ``fma_peak.c`` (best of 5 rounds of about 0.07 s each here).

    Raises:
        SystemExit: no C compiler (``cc``) on the PATH (``apt-get install gcc``), or the kernel failed to build or
            run (its error output is in the message).
    """
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        raise SystemExit("bench/peak.py needs a C compiler to measure the fp32 peak: apt-get install gcc")
    threads = str(len(os.sched_getaffinity(0)))
    with tempfile.TemporaryDirectory() as tmp:
        exe = Path(tmp) / "fma_peak"
        for command in ([cc, "-O2", "-march=native", "-fopenmp", str(SOURCE), "-o", str(exe)], [str(exe)]):
            done = subprocess.run(command, capture_output=True, text=True,
                                  env={**os.environ, "OMP_NUM_THREADS": threads, "OMP_PROC_BIND": "spread"})
            if done.returncode:
                raise SystemExit(f"{' '.join(command)} failed:\n{done.stderr}")
    return float(done.stdout.split()[0])


def nominal_peak() -> float:
    """``cores x nominal clock x 32`` (two 256-bit FMA pipes: 2 x 8 lanes x 2 FLOPs), the clock from
    ``/proc/cpuinfo``: printed beside :func:`fp32_peak` to show how far the cores run above their nominal clock."""
    mhz = max(float(line.split(":")[1]) for line in open("/proc/cpuinfo") if line.startswith("cpu MHz"))
    return len(os.sched_getaffinity(0)) * mhz * 1e6 * 32


if __name__ == "__main__":
    print(f"fp32 peak, measured (bench/fma_peak.c): {fp32_peak() / 1e9:.0f} GFLOP/s; "
          f"at the nominal clock: {nominal_peak() / 1e9:.0f} GFLOP/s")
