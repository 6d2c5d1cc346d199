# Thin wrappers over cargo; `just --list` shows them.

# Unit, property, fixture and (as root) namespace tests.
test:
    cargo test --workspace

# Everything CI runs.
ci:
    bash .ci/run

# Try brouter without root, against the simulator.
try:
    cargo run -q -p brouter -- --sim /tmp/brouter-sim.json start bridgeip=10.98.98.1/24 brnet=10.98.98.0/24
    cargo run -q -p brouter -- --sim /tmp/brouter-sim.json status bridgeip=10.98.98.1/24 brnet=10.98.98.0/24
