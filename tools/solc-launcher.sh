#!/bin/sh
# Registered by `make` as .solcx/solc-v<version>: runs the npm solc through tools/solc-native.js.
here=$(CDPATH= cd -- "$(dirname -- "$(readlink -f -- "$0")")" && pwd)
NODE_PATH="$here/../node_modules${NODE_PATH:+:$NODE_PATH}" exec node "$here/solc-native.js" "$@"
