# Runs COMMAND ('|'-separated: mpiexec ... mpi_check killed), in which rank 1 is killed by SIGKILL,
# and checks that the job ends with a non-zero exit within 60 s (the ranks' timeout is 3 s) and that
# its output names the killed rank or its signal (a ctest script, cmake -P).
string(REPLACE "|" ";" command "${COMMAND}")
string(TIMESTAMP start "%s")
execute_process(COMMAND ${command} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err TIMEOUT 60)
string(TIMESTAMP end "%s")
math(EXPR seconds "${end} - ${start}")
if("${rc}" STREQUAL "0" OR NOT "${rc}" MATCHES "^[0-9]+$")
  message(FATAL_ERROR "exit code '${rc}' after ${seconds} s, expected a non-zero exit\nstdout:\n${out}\nstderr:\n${err}")
endif()
if(NOT "${out}${err}" MATCHES "rank 1|signal 9|[Kk]illed")
  message(FATAL_ERROR "the output names neither rank 1 nor signal 9:\n${out}${err}")
endif()
message(STATUS "exit code ${rc} after ${seconds} s:\n${out}${err}")
