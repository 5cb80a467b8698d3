# Warnings and sanitizers, set per target (never in global flags).
function(blackbox_target_options target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wpedantic -Wshadow -Wconversion
    -Wno-sign-conversion $<$<BOOL:${BLACKBOX_WERROR}>:-Werror>)
  blackbox_sanitize(${target})
endfunction()

# Sanitizer flags only (for targets whose code is not ours to keep warning-free).
function(blackbox_sanitize target)
  if(BLACKBOX_SANITIZE)
    target_compile_options(${target} PRIVATE -fsanitize=${BLACKBOX_SANITIZE}
      -fno-omit-frame-pointer -fno-sanitize-recover=all -g)
    target_link_options(${target} PRIVATE -fsanitize=${BLACKBOX_SANITIZE})
  endif()
endfunction()
