"""`make loadtest`: Locust against ai-detector, with CPU and memory sampled and the objectives
of loadtest/slo.yaml checked. Run ``python -m loadtest.run``; see loadtest/README.md."""
