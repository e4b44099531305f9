"""Remote nodes seen through Prometheus: node_exporter and process-exporter scraped directly, or a Prometheus
server read over its HTTP API. Each turns two readings of counters into the same samples the local probes make."""
