/* embedclf network check: int8 windows in, int8 scores out (raw files).
 *   embedclf_check_network IN.i8 OUT.i8 */
#include <stdio.h>

#include "embedclf_network.h"

static int8_t scratch[ECL_SCRATCH_BYTES];

int main(int argc, char **argv) {
  enum { N_IN = ECL_N_MELS * ECL_WINDOW_FRAMES };
  FILE *in, *out;
  if (argc != 3 || !(in = fopen(argv[1], "rb")) || !(out = fopen(argv[2], "wb"))) {
    fprintf(stderr, "usage: %s IN.i8 OUT.i8\n", argv[0]);
    return 2;
  }
  while (fread(scratch + ECL_INPUT_OFFSET, 1, N_IN, in) == N_IN)
    fwrite(ecl_network_run(scratch), 1, ECL_N_CLASSES, out);
  fclose(in);
  return fclose(out) != 0;
}
