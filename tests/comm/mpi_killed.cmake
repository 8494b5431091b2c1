# Runs COMMAND ('|'-separated: mpiexec ... mpi_check killed), in which rank 1 is killed by SIGKILL,
# and checks that the job ends within 20 s (the ranks' timeout is 3 s: a timeout, then as long
# waiting for a word from the lost rank) with output matching ERR (a ctest script, cmake -P).
# RC nonzero: the exit code must not be 0; RC any: not checked.
string(REPLACE "|" ";" command "${COMMAND}")
string(TIMESTAMP start "%s")
execute_process(COMMAND ${command} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err TIMEOUT 60)
string(TIMESTAMP end "%s")
math(EXPR seconds "${end} - ${start}")
if(NOT "${rc}" MATCHES "^[0-9]+$" OR (RC STREQUAL "nonzero" AND "${rc}" STREQUAL "0"))
  message(FATAL_ERROR "exit code '${rc}' after ${seconds} s, expected ${RC}\nstdout:\n${out}\nstderr:\n${err}")
endif()
if(seconds GREATER 20)
  message(FATAL_ERROR "the job took ${seconds} s, expected at most 20 s\nstdout:\n${out}\nstderr:\n${err}")
endif()
if(NOT "${out}${err}" MATCHES "${ERR}")
  message(FATAL_ERROR "the output does not match '${ERR}':\n${out}${err}")
endif()
message(STATUS "exit code ${rc} after ${seconds} s:\n${out}${err}")
