# POOLCAT_SANITIZE builds everything with ASan + UBSan (they combine; TSan
# does not combine with ASan, so it is not offered here).
if(POOLCAT_SANITIZE)
  add_compile_options(-fsanitize=address,undefined -fno-omit-frame-pointer
                      -fno-sanitize-recover=undefined)
  add_link_options(-fsanitize=address,undefined)
endif()
