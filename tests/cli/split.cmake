# Runs `famx run DIR ARGS` split (a ctest script, cmake -P) and checks it:
#   FAMX      the famx executable
#   DIR       the checkpoint directory
#   ARGS      '|'-separated extra arguments of both runs (optional: --dequantize, --decode 4)
#   SPLIT     '|'-separated split arguments (--tp|4|--backend|mpi)
#   LAUNCH    '|'-separated launcher prefix of the split run (mpiexec|-n|4|...; optional)
#   RANKS     with RC 0: the split run must print the unsplit run's result line, then RANKS rank lines
#   RC, ERR   otherwise: the split run's exit code (`nonzero`: any but 0) and a regular expression its
#             stdout + stderr must match
string(REPLACE "|" ";" args "${ARGS}")
string(REPLACE "|" ";" split "${SPLIT}")
string(REPLACE "|" ";" launch "${LAUNCH}")
execute_process(COMMAND ${launch} ${FAMX} run ${DIR} ${args} ${split} RESULT_VARIABLE rc OUTPUT_VARIABLE out
                ERROR_VARIABLE err TIMEOUT 100)
if(NOT ("${rc}" STREQUAL "${RC}" OR (RC STREQUAL "nonzero" AND NOT "${rc}" STREQUAL "0")))
  message(FATAL_ERROR "split run: exit code ${rc}, expected ${RC}\nstdout:\n${out}\nstderr:\n${err}")
endif()
if(DEFINED ERR AND NOT "${out}${err}" MATCHES "${ERR}")
  message(FATAL_ERROR "split run: output does not match '${ERR}':\n${out}${err}")
endif()
if(NOT RC STREQUAL "0")
  return()
endif()
execute_process(COMMAND ${FAMX} run ${DIR} ${args} RESULT_VARIABLE rc1 OUTPUT_VARIABLE whole ERROR_VARIABLE err1 TIMEOUT 100)
if(NOT rc1 EQUAL 0)
  message(FATAL_ERROR "unsplit run: exit code ${rc1}\n${err1}")
endif()
string(REGEX MATCH "^[^\n]*\n" line "${whole}")
string(FIND "${out}" "${line}" at)
if(NOT at EQUAL 0)
  message(FATAL_ERROR "the split run's first line differs from the unsplit run's:\nunsplit: ${line}split:\n${out}")
endif()
math(EXPR last "${RANKS} - 1")
foreach(r RANGE ${last})
  if(NOT out MATCHES "\nrank ${r}: read [0-9.]+ MB of weights, [0-9]+ collectives in [0-9.]+ ms, [0-9.]+ tokens/s")
    message(FATAL_ERROR "no line of rank ${r}:\n${out}")
  endif()
endforeach()
message(STATUS "${out}")
