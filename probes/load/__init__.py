"""The load driver: an active probe of the target's throughput and latency, in its own process."""



