# Warnings for our own targets only (generated code and third-party headers are exempt).
function(dealcoach_warnings target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wno-unused-parameter)
  if(DEALCOACH_WERROR)
    target_compile_options(${target} PRIVATE -Werror)
  endif()
endfunction()
