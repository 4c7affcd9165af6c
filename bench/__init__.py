"""`make bench`: throughput and latency of ai-detector in-process, behind TorchServe and
against an eager fp32 baseline server. Run ``python -m bench.run``; see bench/README.md."""
