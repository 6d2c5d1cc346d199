# Thin wrappers over cargo; `just --list` shows them.

# Unit, property, fixture and (as root) namespace tests; ends with the count of skipped tests.
test *args:
    scripts/test {{args}}

# The simulator's property tests (sim/tests/mixed.rs, properties.rs) with 100,000 cases each
# (CI runs 2,000): about a minute on 2 cores, after a release build.
soak cases="100000":
    BROUTER_PROPTEST_CASES={{cases}} cargo test --release -p brouter-sim --test mixed --test properties

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

# docs/isp-topology.svg is this SVG (the config alone); look at the PNG to check the picture.
# Draw fixtures/isp.toml as target/isp.svg, screenshot it with headless Chromium if present.
diagram:
    #!/usr/bin/env bash
    set -euo pipefail
    cargo run -q -p brouter -- --config fixtures/isp.toml diagram --config-only -o target/isp.svg
    echo "wrote target/isp.svg"
    if ! command -v chromium >/dev/null; then
      echo "no chromium (apt-get install chromium): open target/isp.svg in a browser instead"
      exit 0
    fi
    size=$(sed -n 's/.*<svg width="\([0-9]*\)" height="\([0-9]*\)".*/\1,\2/p' target/isp.svg | head -n 1)
    profile=$(mktemp -d)
    trap 'rm -rf "$profile"' EXIT
    chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
      --disable-background-networking --disable-component-update --disable-sync \
      --user-data-dir="$profile" --screenshot="$PWD/target/isp.png" --window-size="${size:-1400,1000}" \
      "file://$PWD/target/isp.svg" 2>/dev/null
    test -s target/isp.png
    echo "wrote target/isp.png (${size:-1400,1000})"

# The Debian package (needs `cargo install cargo-deb`): release binary, man page and
# completions generated from it, then cargo-deb; prints what the package contains.
package:
    cargo build --release --locked -p brouter
    dist/gen-assets target/release/brouter target/release/assets
    cargo deb -p brouter --no-build
    dpkg-deb -c "$(ls -t target/debian/brouter_*.deb | head -n 1)"

# Install without the Debian package (root): the release binary, brouter(8) and the shell
# completions, generated like the package's, under PREFIX. `man brouter` then works.
install prefix="/usr/local":
    cargo build --release --locked -p brouter
    dist/gen-assets target/release/brouter target/release/assets
    install -Dm755 target/release/brouter {{prefix}}/sbin/brouter
    install -Dm644 target/release/assets/brouter.8.gz {{prefix}}/share/man/man8/brouter.8.gz
    install -Dm644 target/release/assets/brouter.bash {{prefix}}/share/bash-completion/completions/brouter
    install -Dm644 target/release/assets/_brouter {{prefix}}/share/zsh/site-functions/_brouter
    install -Dm644 target/release/assets/brouter.fish {{prefix}}/share/fish/vendor_completions.d/brouter.fish

# Benchmarks in throwaway namespaces (root): writes bench/RESULTS.md and bench/results.json.
bench:
    cargo build --release -p brouter -p brouter-bench
    target/release/brouter-bench

# Peers side by side: Xen's vif-bridge against brouter's hook, netavark and Shorewall against
# brouter (root; installs xen-utils-common, netavark, iptables and shorewall if missing): writes
# bench/PEERS.md and bench/PEERS.json, leaving RESULTS.md alone.
bench-peers:
    #!/usr/bin/env bash
    set -euo pipefail
    if [ ! -e /etc/xen/scripts/vif-bridge ]; then
      apt-get install -y xen-utils-common
    fi
    if [ ! -e /usr/lib/podman/netavark ] || [ ! -e /sbin/shorewall ] || ! command -v iptables >/dev/null; then
      apt-get install -y netavark iptables shorewall
    fi
    cargo build --release -p brouter -p brouter-bench
    BENCH_ONLY=peers BENCH_OUT=PEERS target/release/brouter-bench
