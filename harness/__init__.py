"""What the load test, the benchmark and the tests share to drive a real service.

- :mod:`harness.images`: the one generator of photo-like test images;
- :mod:`harness.loadgen`: the one load generator (open and closed loop, every request on record);
- :mod:`harness.processes`: the CPU's name, and the sampler of a process tree's CPU and memory;
- :mod:`harness.servers`: a throwaway TorchServe on free loopback ports;
- :mod:`harness.signing`: a C2PA test signing chain and signed files (the tests, bench.provenance).

Run the scripts that use it as modules from the repository root (``python -m loadtest.run``,
``python -m bench.run``), so ``harness`` is importable as it is, with no path edits.
"""
