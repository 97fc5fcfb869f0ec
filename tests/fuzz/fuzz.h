/*
 * The libFuzzer entry point every target in tests/fuzz/ defines. Built with
 * --enable-fuzzing, clang's libFuzzer drives it (scripts/fuzz.sh); otherwise
 * tests/fuzz/replay.c runs each corpus file through it once (make check).
 * A target aborts on any property it finds broken, so a replay fails loudly.
 */
#ifndef CHORUS_FUZZ_H
#define CHORUS_FUZZ_H

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#endif
