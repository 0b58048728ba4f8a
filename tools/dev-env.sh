# Source this to use the project's toolchain by hand (what the Makefile exports):
#   source tools/dev-env.sh && brownie compile && pytest tests/unit -q
_root=$(CDPATH= cd -- "$(dirname -- "${BASH_SOURCE[0]:-$0}")/.." && pwd)
export SOLCX_BINARY_PATH="$_root/.solcx"
export PATH="$_root/node_modules/.bin:$_root/.venv/bin:$PATH"
export PYTHONPATH="$_root"
export MPLBACKEND=Agg
unset _root
