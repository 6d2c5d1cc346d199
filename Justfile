# Thin wrappers over cargo; `just --list` shows them.

# Unit, property, fixture and (as root) namespace tests.
test:
    cargo test --workspace

# Everything CI runs.
ci:
    bash .ci/run

# The whole scenario as root, in throwaway network namespaces (deleted afterwards).
demo:
    cargo run -q -p brouter -- demo

# Try brouter without root, against the simulator.
try:
    cargo run -q -p brouter -- --sim /tmp/brouter-sim.json start bridgeip=10.98.98.1/24 brnet=10.98.98.0/24
    cargo run -q -p brouter -- --sim /tmp/brouter-sim.json status bridgeip=10.98.98.1/24 brnet=10.98.98.0/24

# The Debian package (needs `cargo install cargo-deb`): release binary, man page and
# completions generated from it, then cargo-deb; prints what the package contains.
package:
    cargo build --release --locked -p brouter
    dist/gen-assets target/release/brouter target/release/assets
    cargo deb -p brouter --no-build
    dpkg-deb -c "$(ls -t target/debian/brouter_*.deb | head -n 1)"

# Benchmarks in throwaway namespaces (root): writes bench/RESULTS.md and bench/results.json.
bench:
    cargo build --release -p brouter -p brouter-bench
    target/release/brouter-bench
