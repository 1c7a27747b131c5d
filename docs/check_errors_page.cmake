# Checks that docs/errors.md has a table row for every code of PYDBG_ERROR_LIST, with the
# code's number, so that a code added to include/pydebug/errors.h is documented too.
#
#   cmake -DSOURCE_DIR=<repo> -P check_errors_page.cmake
file(READ "${SOURCE_DIR}/include/pydebug/errors.h" errors_h)
file(READ "${SOURCE_DIR}/docs/errors.md" page)

string(REGEX MATCHALL "X\\(([A-Z0-9_]+), *(-?[0-9]+), *\"" entries "${errors_h}")
list(LENGTH entries count)
if(count LESS 2)
    message(FATAL_ERROR "could not read PYDBG_ERROR_LIST from include/pydebug/errors.h")
endif()

set(problems "")
foreach(entry IN LISTS entries)
    string(REGEX MATCH "X\\(([A-Z0-9_]+), *(-?[0-9]+)" _ "${entry}")
    set(name "PYDBG_${CMAKE_MATCH_1}")
    set(value "${CMAKE_MATCH_2}")
    # A table row: | #PYDBG_NAME | value | ... |
    if(NOT page MATCHES "\\|[ ]*#${name}[ ]*\\|[ ]*${value}[ ]*\\|")
        list(APPEND problems "${name} (${value})")
    endif()
endforeach()
if(problems)
    list(JOIN problems "\n  " problems)
    message(FATAL_ERROR "docs/errors.md has no table row \"| #NAME | value |\" for:\n  ${problems}")
endif()
message(STATUS "docs/errors.md documents all ${count} codes of PYDBG_ERROR_LIST")
