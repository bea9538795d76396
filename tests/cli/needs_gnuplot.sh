#!/bin/sh
# needs_gnuplot.sh COMMAND...: runs COMMAND when gnuplot is on PATH (tools/setup.sh installs it);
# otherwise says why and exits 77, declared by the tests using it as SKIP_RETURN_CODE. Only the
# forecast plot needs gnuplot; the forecast CSV tests run without it.
if ! command -v gnuplot >/dev/null 2>&1; then
  echo "SKIPPED: gnuplot is not installed (mmx forecast --plot needs it; tools/setup.sh installs gnuplot-nox)"
  exit 77
fi
exec "$@"
