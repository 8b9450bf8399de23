/* embedclf demo: classify a raw 16-bit little-endian mono PCM file.
 *   embedclf_demo IN.pcm
 * prints "window,label_index,q0,q1,..." per analysis window (the int8 scores),
 * then "clip,label_index". Built with ECL_KEEP_INPUT defined, it also writes each
 * window's int8 network input to the file named by a second argument. */
#include <stdio.h>

#include "embedclf.h"

static ecl_state state;
#ifdef ECL_KEEP_INPUT
static FILE *dump;
#endif

static void on_window(long index, const int8_t *q, void *user) {
  int c;
  (void)user;
  printf("%ld,%d", index, ecl_argmax(q));
  for (c = 0; c < ECL_N_CLASSES; ++c) printf(",%d", q[c]);
  printf("\n");
#ifdef ECL_KEEP_INPUT
  if (dump) fwrite(ecl_last_input(), 1, ECL_N_MELS * ECL_WINDOW_FRAMES, dump);
#endif
}

int main(int argc, char **argv) {
  unsigned char bytes[1024];
  int16_t pcm[512];
  size_t got, i;
  FILE *in;
  if (argc < 2) {
    fprintf(stderr, "usage: %s IN.pcm  (16-bit little-endian mono at %d Hz)\n", argv[0],
            ECL_SAMPLE_RATE);
    return 2;
  }
  in = fopen(argv[1], "rb");
  if (!in) {
    fprintf(stderr, "cannot open %s\n", argv[1]);
    return 1;
  }
#ifdef ECL_KEEP_INPUT
  if (argc > 2 && !(dump = fopen(argv[2], "wb"))) {
    fprintf(stderr, "cannot write %s\n", argv[2]);
    return 1;
  }
#endif
  ecl_init(&state);
  while ((got = fread(bytes, 1, sizeof bytes, in)) >= 2) {
    for (i = 0; i + 1 < got; i += 2)  /* little-endian whatever the host's order */
      pcm[i / 2] = (int16_t)(uint16_t)(bytes[i] | (bytes[i + 1] << 8));
    ecl_push_pcm16(&state, pcm, got / 2, on_window, NULL);
  }
  fclose(in);
  printf("clip,%d\n", ecl_finish(&state, on_window, NULL));
#ifdef ECL_KEEP_INPUT
  if (dump) fclose(dump);
#endif
  return 0;
}
