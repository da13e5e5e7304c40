#!/bin/bash
# Runs kubernetes_test.py with Debian's interpreter, which has PyYAML (python3-yaml, tools/setup),
# whatever python3 comes first on PATH.
exec /usr/bin/python3 "${TEST_SRCDIR}/${TEST_WORKSPACE}/tests/deploy/kubernetes_test.py" "$@"
