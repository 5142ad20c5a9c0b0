# Warnings per target, as errors unless XIMUP_WERROR is off.
function(ximup_warnings target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wpedantic -Wconversion -Wsign-conversion
                                           -Wshadow -Wnon-virtual-dtor -Wold-style-cast)
  # GCC 12 at -O3 (Release) reports a false -Wmismatched-new-delete on the frames of Asio
  # coroutines (awaitable_frame_base recycles them through aligned_new/aligned_delete, which GCC
  # pairs wrongly after inlining; it lands in asio/detail/memory.hpp). AddressSanitizer checks
  # new/delete pairs at run time in CI's Debug build.
  target_compile_options(${target} PRIVATE $<$<AND:$<CXX_COMPILER_ID:GNU>,$<CONFIG:Release>>:-Wno-mismatched-new-delete>)
  if(XIMUP_WERROR)
    target_compile_options(${target} PRIVATE -Werror)
  endif()
endfunction()
