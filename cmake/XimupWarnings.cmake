# Warnings per target, as errors unless XIMUP_WERROR is off.
function(ximup_warnings target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wpedantic -Wconversion -Wsign-conversion
                                           -Wshadow -Wnon-virtual-dtor -Wold-style-cast)
  if(XIMUP_WERROR)
    target_compile_options(${target} PRIVATE -Werror)
  endif()
endfunction()
