#!/usr/bin/env bash
# Build the embedded demo workspace (when missing) and serve the dashboard on 127.0.0.1.
# Usage: tools/demo.sh [--port 8050]
source "$(dirname "$0")/_env.sh"
cd "$ROOT"
eomine demo
exec eomine serve "$@"
