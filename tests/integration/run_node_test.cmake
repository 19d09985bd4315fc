# Runs one Node integration test file for ctest: cmake -DNODE=... -DSCRIPT=... -DMODULES=...
# -DFLUX_BIN=... -DDEFAULT_SHARED_DIR=... -P run_node_test.cmake. Checked at test time, so that
# installing the dependencies after configuring is enough.

if(NOT NODE OR NOT EXISTS "${NODE}")
  message(FATAL_ERROR
    "Node.js was not found when CMake configured this build: run scripts/install-deps.sh "
    "(it installs Node.js 20+ and runs `npm ci` in tests/integration), then re-run cmake.")
endif()
if(NOT EXISTS "${MODULES}/openai/package.json")
  message(FATAL_ERROR
    "${MODULES} is missing or incomplete: run scripts/install-deps.sh, "
    "or `npm ci --prefix tests/integration` from the repository root.")
endif()

set(ENV{FLUX_BIN} "${FLUX_BIN}")
if(NOT DEFINED ENV{FLUX_SHARED_DIR} OR "$ENV{FLUX_SHARED_DIR}" STREQUAL "")
  set(ENV{FLUX_SHARED_DIR} "${DEFAULT_SHARED_DIR}")
endif()

execute_process(COMMAND "${NODE}" --test "${SCRIPT}" RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "node --test ${SCRIPT} failed (exit ${rc})")
endif()
