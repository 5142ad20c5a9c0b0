# Sanitizers for the whole build, selected with -DXIMUP_SANITIZE="address;undefined" or "thread".
if(XIMUP_SANITIZE)
  string(REPLACE ";" "," _ximup_san "${XIMUP_SANITIZE}")
  add_compile_options(-fsanitize=${_ximup_san} -fno-omit-frame-pointer -fno-sanitize-recover=all)
  add_link_options(-fsanitize=${_ximup_san})
  message(STATUS "ximup: sanitizers ${_ximup_san}")
endif()
