"""What the tile benchmarks run beside ours: peer servers (tipg, MapServer, nginx), our own web
server (granian), the load generator and the 1,000,000-parcel database. Every server listens on
127.0.0.1 only and is started as a context manager that stops it in a ``finally``."""
