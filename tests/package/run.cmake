# Packaging check, run by CTest in script mode. MODE is one of:
#   install        installs the library the enclosing build made (BUILD_DIR: no second build
#                  of it) into PREFIX, and checks what operators get beside it;
#   find_package   builds a consumer of that installed copy with compiler CXX and the flags
#                  FLAGS (a consumer at another optimisation level than the library must
#                  link: docs/architecture.md, the USDT semaphores), then runs it;
#   add_subdirectory  compiles the sources inside the consumer's project, without
#                  optimisation (-O0 compiles several times faster; what is checked is the
#                  CMake wiring, not the code).
foreach(var SOURCE_DIR BUILD_DIR WORK_DIR MODE CXX)
  if(NOT DEFINED ${var})
    message(FATAL_ERROR "${var} not set")
  endif()
endforeach()
file(REMOVE_RECURSE ${WORK_DIR})

function(run)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE out)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "failed (${rc}): ${ARGN}\n${out}")
  endif()
endfunction()

cmake_host_system_information(RESULT cores QUERY NUMBER_OF_LOGICAL_CORES)
set(common -DCMAKE_CXX_COMPILER=${CXX})
if(MODE STREQUAL "install")
  run(${CMAKE_COMMAND} --install ${BUILD_DIR} --prefix ${WORK_DIR}/prefix)
  foreach(tool logcat bbx-ringdump bbx-run)
    if(NOT EXISTS ${WORK_DIR}/prefix/bin/${tool})
      message(FATAL_ERROR "${tool} is not installed under bin")
    endif()
  endforeach()
  # What operators use besides the library: lnav's format for logcat -o json.
  if(NOT EXISTS ${WORK_DIR}/prefix/share/blackbox/lnav/blackbox_log.json)
    message(FATAL_ERROR "the lnav format is not installed under share/blackbox/lnav")
  endif()
  # The shipper's systemd unit, where systemd looks under the prefix, checked by systemd's own
  # verifier (as the instance "root", with ExecStart pointed at this prefix's logcat): any
  # word it says (an unknown key, a command that is not there) fails.
  set(unit ${WORK_DIR}/prefix/lib/systemd/system/blackbox-ship@.service)
  if(NOT EXISTS ${unit})
    message(FATAL_ERROR "the systemd unit is not installed under lib/systemd/system")
  endif()
  find_program(SYSTEMD_ANALYZE systemd-analyze)
  if(SYSTEMD_ANALYZE)
    file(READ ${unit} text)
    string(REGEX REPLACE "ExecStart=[^ ]*/logcat " "ExecStart=${WORK_DIR}/prefix/bin/logcat "
           text "${text}")
    file(WRITE ${WORK_DIR}/blackbox-ship@root.service "${text}")
    execute_process(COMMAND ${SYSTEMD_ANALYZE} verify ${WORK_DIR}/blackbox-ship@root.service
                    RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE out)
    if(NOT rc EQUAL 0 OR NOT out STREQUAL "")
      message(FATAL_ERROR "systemd-analyze verify of the shipper's unit (${rc}):\n${out}")
    endif()
  else()
    message(STATUS "systemd-analyze is not installed: the unit's syntax is not checked")
  endif()
  message(STATUS "installed into ${WORK_DIR}/prefix")
  return()
elseif(MODE STREQUAL "find_package")
  # No build type: the flags are FLAGS alone (no build type at all is what the README's
  # CMake lines give a new user, and is -O0).
  run(${CMAKE_COMMAND} -S ${SOURCE_DIR}/tests/package/consumer -B ${WORK_DIR}/consumer ${common}
      -DCMAKE_BUILD_TYPE= "-DCMAKE_CXX_FLAGS=${FLAGS}" -DCMAKE_PREFIX_PATH=${PREFIX}/prefix
      -DCONSUMER_MODE=find_package)
else()
  run(${CMAKE_COMMAND} -S ${SOURCE_DIR}/tests/package/consumer -B ${WORK_DIR}/consumer ${common}
      -DCMAKE_BUILD_TYPE=Debug -DCONSUMER_MODE=add_subdirectory
      -DBLACKBOX_SOURCE_DIR=${SOURCE_DIR})
endif()
run(${CMAKE_COMMAND} --build ${WORK_DIR}/consumer -j${cores})
run(${CMAKE_COMMAND} -E env BBX_DIR=${WORK_DIR} BBX_ARCHIVE_DIR=${WORK_DIR}/archive
  ${WORK_DIR}/consumer/consumer)
message(STATUS "${MODE}: consumer built (${CXX} ${FLAGS}) and ran")
