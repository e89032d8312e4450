"""IPNS: signed, mutable names (``record``), their DHT form (``dht``) and the node's
publisher and resolver (``service``)."""
