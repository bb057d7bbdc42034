#!/usr/bin/env bash
# The macro benchmark, rerunnable by anyone: builds huntlake (release), installs the pinned
# DuckDB (and pyarrow) into benches/.venv, then runs benches/macro.py.
# Usage: benches/macro.sh [S] [M] [L] [--repeat N] [--layouts generator,pyarrow,duckdb,spark,large]
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/huntlake-target}"
DUCKDB_VERSION=2.0.1
PYARROW_VERSION=22.0.0

cargo build --release --locked --bin huntlake
if [ ! -x benches/.venv/bin/python ]; then
    python3 -m venv benches/.venv
fi
if ! benches/.venv/bin/python -c "import duckdb, sys; sys.exit(duckdb.__version__ != '$DUCKDB_VERSION')" 2>/dev/null; then
    benches/.venv/bin/pip install --quiet "duckdb==$DUCKDB_VERSION"
fi
# pyarrow rewrites the generated lakes for --layouts (benches/relayout.py).
if ! benches/.venv/bin/python -c "import pyarrow, sys; sys.exit(pyarrow.__version__ != '$PYARROW_VERSION')" 2>/dev/null; then
    benches/.venv/bin/pip install --quiet "pyarrow==$PYARROW_VERSION"
fi
exec benches/.venv/bin/python benches/macro.py --python benches/.venv/bin/python \
    --huntlake "$CARGO_TARGET_DIR/release/huntlake" "$@"
