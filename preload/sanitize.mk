# The sanitizers of every sanitized build (preload/Makefile's `sanitize`, test/c's): any report
# ends the program, so a test sees it as a failure.
SANITIZE := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
