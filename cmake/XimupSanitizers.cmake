# Sanitizers for the whole build, selected with -DXIMUP_SANITIZE="address;undefined" or "thread".
if(XIMUP_SANITIZE)
  string(REPLACE ";" "," _ximup_san "${XIMUP_SANITIZE}")
  add_compile_options(-fsanitize=${_ximup_san} -fno-omit-frame-pointer -fno-sanitize-recover=all)
  add_link_options(-fsanitize=${_ximup_san})
  if(XIMUP_SANITIZE STREQUAL "thread" AND CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
    # GCC 12 warns (-Wtsan) that TSan does not model the atomic_thread_fence inside Asio's headers;
    # with -Werror that stops the build. The fences Asio uses pair with atomics TSan does see.
    add_compile_options(-Wno-tsan)
  endif()
  message(STATUS "ximup: sanitizers ${_ximup_san}")
endif()
