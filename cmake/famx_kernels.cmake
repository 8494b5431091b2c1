# famx_add_kernels(<target> [ALL_TARGETS] [SKIP_TARGETS <expr>])
#
# Opt-in "compile kernels once" mode: adds one generated translation unit holding every famx SIMD
# kernel for every Highway target to <target>, and makes the other sources of <target> (and of
# targets linking it PUBLIC/INTERFACE) see only declarations, so including <famx/kernels.hpp>
# costs them almost nothing. ALL_TARGETS compiles every attainable target, even when the
# compiler flags already imply a baseline (tests use it so that every target can be checked).
# SKIP_TARGETS leaves out the Highway targets of a HWY_DISABLED_TARGETS expression (HWY_AVX3|HWY_SSSE3).
set(_famx_kernels_dir "${CMAKE_CURRENT_LIST_DIR}")
function(famx_add_kernels target)
  cmake_parse_arguments(ARG "ALL_TARGETS" "SKIP_TARGETS" "" ${ARGN})
  set(tu "${CMAKE_CURRENT_BINARY_DIR}/${target}_famx_kernels.cpp")
  configure_file("${_famx_kernels_dir}/famx_kernels.cpp.in" "${tu}" @ONLY)
  # First among the target's sources: Ninja starts ready jobs in the order they were written, and
  # this is the target's longest compilation (minutes under sanitizers): started last, it would
  # run alone at the end of a parallel build.
  get_target_property(sources ${target} SOURCES)
  if(sources)
    set_property(TARGET ${target} PROPERTY SOURCES "${tu};${sources}")
  else()
    set_property(TARGET ${target} PROPERTY SOURCES "${tu}")
  endif()
  get_target_property(type ${target} TYPE)
  if(type STREQUAL "EXECUTABLE")
    target_compile_definitions(${target} PRIVATE FAMX_EXTERN_KERNELS)
  else()
    target_compile_definitions(${target} PUBLIC FAMX_EXTERN_KERNELS)
  endif()
  set_source_files_properties("${tu}" PROPERTIES COMPILE_DEFINITIONS "FAMX_IMPLEMENT_KERNELS")
  if(ARG_ALL_TARGETS)
    set_property(SOURCE "${tu}" APPEND PROPERTY COMPILE_DEFINITIONS "HWY_COMPILE_ALL_ATTAINABLE")
  endif()
  if(ARG_SKIP_TARGETS)
    set_property(SOURCE "${tu}" APPEND PROPERTY COMPILE_DEFINITIONS "HWY_DISABLED_TARGETS=(${ARG_SKIP_TARGETS})")
  endif()
endfunction()
