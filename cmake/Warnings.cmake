# Warnings for our own targets only (generated code and third-party headers are exempt).
function(dealcoach_warnings target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wno-unused-parameter)
  # Targets may silence a GCC-only false positive (-Wno-dangling-pointer); clang (the
  # sanitizer and fuzz build, scripts/sanitize.sh) does not know those flags.
  if(CMAKE_CXX_COMPILER_ID MATCHES "Clang")
    target_compile_options(${target} PRIVATE -Wno-unknown-warning-option)
  endif()
  if(DEALCOACH_WERROR)
    target_compile_options(${target} PRIVATE -Werror)
  endif()
endfunction()
