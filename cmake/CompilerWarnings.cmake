# poolcat_warnings: an INTERFACE target carrying our warning flags. Linked
# PRIVATE by our own targets only, so dependencies' headers are not judged.
add_library(poolcat_warnings INTERFACE)
target_compile_options(poolcat_warnings INTERFACE
  -Wall
  -Wextra
  # Implicit conversions that lose sign are a classic source of index bugs.
  -Wsign-compare
  # Shadowed locals hide the variable a reader thinks is used.
  -Wshadow=local
  -Wnon-virtual-dtor
  $<$<BOOL:${POOLCAT_WERROR}>:-Werror>
)
