"""`make loadtest`: Locust against ai-detector, with CPU and memory sampled and the objectives
of loadtest/slo.yaml checked. Run ``python loadtest/run.py``; see loadtest/README.md."""
