"""``python -m deskpilot MODULE ARGS``: run one of Deskpilot's modules as ``python -m MODULE``
would, with Deskpilot's packages on the path (how the supervisor starts its workers)."""

from __future__ import annotations

import runpy
import sys

from deskpilot import activate

if len(sys.argv) < 2:
    sys.stderr.write("usage: python -m deskpilot MODULE [ARGS...]\n")
    sys.exit(2)
activate()
module = sys.argv[1]
sys.argv = [module, *sys.argv[2:]]
runpy.run_module(module, run_name="__main__", alter_sys=True)
