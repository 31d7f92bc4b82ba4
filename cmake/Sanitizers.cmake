# Sanitizer and fuzzing builds. Each is an option of the root CMakeLists.txt:
#
#   POOLCAT_SANITIZE  AddressSanitizer + UndefinedBehaviorSanitizer. UBSan
#                     findings abort (-fno-sanitize-recover) so a test fails
#                     instead of printing a warning nobody reads.
#   POOLCAT_TSAN      ThreadSanitizer. It cannot be combined with ASan (both
#                     own the shadow memory), so it is refused together with
#                     POOLCAT_SANITIZE. libgomp and gRPC are not instrumented:
#                     `make tsan` runs with tests/reliability/tsan.supp and one
#                     compute thread (see tests/RELIABILITY.md).
#   POOLCAT_FUZZ      clang's libFuzzer targets in tests/fuzz. Everything is
#                     compiled with -fsanitize=fuzzer-no-link (coverage
#                     feedback from core and server code, not just the
#                     harness); only the fuzz executables link the libFuzzer
#                     main. Needs clang; combine with POOLCAT_SANITIZE.
if(POOLCAT_SANITIZE AND POOLCAT_TSAN)
  message(FATAL_ERROR "POOLCAT_SANITIZE (ASan+UBSan) and POOLCAT_TSAN cannot be combined; "
                      "configure a separate build directory for each")
endif()

if(POOLCAT_SANITIZE)
  add_compile_options(-fsanitize=address,undefined -fno-omit-frame-pointer
                      -fno-sanitize-recover=undefined)
  add_link_options(-fsanitize=address,undefined)
endif()

if(POOLCAT_TSAN)
  add_compile_options(-fsanitize=thread -fno-omit-frame-pointer)
  # GCC warns (-Wtsan) that TSan does not model std::atomic_thread_fence,
  # which abseil's flag headers use; -Werror would make that fatal in every
  # file including them. The fence is in a seqlock TSan cannot judge anyway.
  add_compile_options($<$<CXX_COMPILER_ID:GNU>:-Wno-tsan>)
  add_link_options(-fsanitize=thread)
endif()

if(POOLCAT_FUZZ)
  if(NOT CMAKE_CXX_COMPILER_ID STREQUAL "Clang")
    message(FATAL_ERROR "POOLCAT_FUZZ needs clang (libFuzzer): configure with "
                        "CC=clang CXX=clang++, e.g. `make fuzz`")
  endif()
  add_compile_options(-fsanitize=fuzzer-no-link)
  # Highway compiles every kernel once per x86 target, and with coverage and
  # sanitizers the kernels (core/*_pool_simd.cc) are the longest step of CI.
  # A fuzzer only runs the best target of its host, so keep AVX-512 and one
  # fallback. That fallback is SSE4 (made the baseline here; every x86-64
  # machine CI may get has it), not clang's EMU128, whose emulated lanes,
  # each instrumented, made the kernels (then one file) take 10 min to
  # compile instead of 4. simd_test checks every target, EMU128 or SCALAR
  # included, in the normal and ASan builds.
  add_compile_options(-msse4.2 -mpclmul -maes)
  add_compile_definitions("HWY_DISABLED_TARGETS=(HWY_SSSE3|HWY_AVX2)")
  # Our warning set names a few GCC-only flags (-Wshadow=local); clang must
  # not turn its "unknown warning option" note into an error under -Werror.
  add_compile_options(-Wno-unknown-warning-option)
endif()
