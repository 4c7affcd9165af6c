"""`make bench`: throughput and latency of ai-detector in-process, behind TorchServe and
against an eager fp32 baseline server. Run ``python bench/run.py``; see bench/README.md."""
