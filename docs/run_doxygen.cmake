# Runs Doxygen on the public headers and the guide pages; fails on any warning.
#
#   cmake -DDOXYGEN=<exe> -DDOXYFILE=<configured Doxyfile> -DOUTPUT=<dir> -DSOURCE_DIR=<repo>
#         -P run_doxygen.cmake
#
# Used by both the `docs` target and the `docs_no_warnings` test, so that they agree. Inputs
# are looked up here, at run time, rather than at configure time: headers and pages added
# since the last configure are documented (and checked) without re-running CMake.
foreach(var DOXYGEN DOXYFILE OUTPUT SOURCE_DIR)
    if(NOT DEFINED ${var})
        message(FATAL_ERROR "run_doxygen.cmake: -D${var}=... is required")
    endif()
endforeach()

# Doxygen silently skips every declaration of a header that has no @file block: none of
# them is documented and none is reported as undocumented. Catch that here.
file(GLOB_RECURSE headers LIST_DIRECTORIES false "${SOURCE_DIR}/include/*.h")
set(missing_file_doc "")
foreach(h IN LISTS headers)
    file(STRINGS "${h}" file_lines REGEX "[@\\\\]file([ \t]|$)")
    if(NOT file_lines)
        list(APPEND missing_file_doc "${h}")
    endif()
endforeach()
if(missing_file_doc)
    list(JOIN missing_file_doc "\n  " missing_file_doc)
    message(FATAL_ERROR "public headers without a @file comment (Doxygen would skip all "
                        "their declarations):\n  ${missing_file_doc}")
endif()

set(readme "")
if(EXISTS "${SOURCE_DIR}/README.md")
    set(readme "${SOURCE_DIR}/README.md")
endif()
set(ENV{PYDBG_DOXYGEN_README} "${readme}")
set(ENV{PYDBG_DOXYGEN_OUTPUT} "${OUTPUT}")

file(MAKE_DIRECTORY "${OUTPUT}")
file(REMOVE "${OUTPUT}/warnings.log")
execute_process(COMMAND "${DOXYGEN}" "${DOXYFILE}"
                WORKING_DIRECTORY "${OUTPUT}"
                RESULT_VARIABLE rc)

set(warnings "")
if(EXISTS "${OUTPUT}/warnings.log")
    file(READ "${OUTPUT}/warnings.log" warnings)
    string(STRIP "${warnings}" warnings)
endif()
if(warnings)
    message("${warnings}")
endif()
if(NOT rc EQUAL 0 OR warnings)
    message(FATAL_ERROR "Doxygen failed (exit status ${rc}); see the warnings above")
endif()
message(STATUS "API reference: ${OUTPUT}/html/index.html")
