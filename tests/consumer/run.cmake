# Installs famx from BUILD_DIR into a scratch prefix, then configures, builds and runs the consumer
# project in SOURCE_DIR against it. MPIEXEC (optional, '|'-separated launcher: mpiexec|...|-n|2):
# the consumer also links famx::mpi, and its MPI engine runs under that launcher.
file(REMOVE_RECURSE ${WORK_DIR})
set(prefix ${WORK_DIR}/prefix)
set(with_mpi OFF)
if(MPIEXEC)
  set(with_mpi ON)
endif()
execute_process(COMMAND ${CMAKE_COMMAND} --install ${BUILD_DIR} --prefix ${prefix} COMMAND_ERROR_IS_FATAL ANY)
execute_process(COMMAND ${CMAKE_COMMAND} -S ${SOURCE_DIR} -B ${WORK_DIR}/build -G ${GENERATOR}
                        -DCMAKE_PREFIX_PATH=${prefix} -DCMAKE_BUILD_TYPE=Release "-DCMAKE_CXX_FLAGS=${CXX_FLAGS}"
                        -DWITH_MPI=${with_mpi}
                COMMAND_ERROR_IS_FATAL ANY)
execute_process(COMMAND ${CMAKE_COMMAND} --build ${WORK_DIR}/build COMMAND_ERROR_IS_FATAL ANY)
foreach(exe engine engine_once)
  execute_process(COMMAND ${WORK_DIR}/build/${exe} OUTPUT_VARIABLE out RESULT_VARIABLE rc)
  message(STATUS "${exe}: ${out}")
  if(NOT rc EQUAL 0 OR NOT out MATCHES "ok")
    message(FATAL_ERROR "${exe} failed (exit ${rc}): ${out}")
  endif()
endforeach()
if(MPIEXEC)
  string(REPLACE "|" ";" launch "${MPIEXEC}")
  execute_process(COMMAND ${launch} ${WORK_DIR}/build/engine_mpi OUTPUT_VARIABLE out RESULT_VARIABLE rc TIMEOUT 120)
  message(STATUS "engine_mpi: ${out}")
  if(NOT rc EQUAL 0 OR NOT out MATCHES "ok mpi rank 0 of 2" OR NOT out MATCHES "ok mpi rank 1 of 2")
    message(FATAL_ERROR "engine_mpi failed (exit ${rc}): ${out}")
  endif()
endif()
