# libFuzzer targets are built by scripts/fuzz.sh with clang -fsanitize=fuzzer (see tests/fuzz/).
