/* embedclf demo: classify a raw 16-bit little-endian mono PCM file.
 *   embedclf_demo IN.pcm
 * prints "window,label_index,q0,q1,..." per analysis window (the int8 scores),
 * then "clip,label_index".
 * Built with ECL_KEEP_INPUT, a second argument names a file that receives each window's
 * int8 network input. Built with ECL_MEASURE (the Cortex-M4 firmware), a second argument
 * names a file that receives the library's peak stack and SysTick ticks (the demo's own
 * I/O excluded), with a calibration loop of a known instruction count. */
#include <stdio.h>

#include "embedclf.h"

enum { CHUNK = 512, MAX_PENDING = 16 };

static ecl_state state;
static int8_t pending[MAX_PENDING][ECL_N_CLASSES]; /* printed after each push: the */
static long pending_index[MAX_PENDING];           /* library's calls stay free of I/O */
static int n_pending;
static long n_windows;
#ifdef ECL_KEEP_INPUT
static FILE *dump;
#endif

static void print_pending(void);

static void on_window(long index, const int8_t *q, void *user) {
  int c;
  (void)user;
  if (n_pending == MAX_PENDING) print_pending(); /* a tiny hop: many windows per chunk */
  for (c = 0; c < ECL_N_CLASSES; ++c) pending[n_pending][c] = q[c];
  pending_index[n_pending++] = index;
  n_windows++;
#ifdef ECL_KEEP_INPUT
  if (dump) fwrite(ecl_last_input(), 1, ECL_N_MELS * ECL_WINDOW_FRAMES, dump);
#endif
}

static void print_pending(void) {
  int k, c;
  for (k = 0; k < n_pending; ++k) {
    printf("%ld,%d", pending_index[k], ecl_argmax(pending[k]));
    for (c = 0; c < ECL_N_CLASSES; ++c) printf(",%d", pending[k][c]);
    printf("\n");
  }
  n_pending = 0;
}

#ifdef ECL_MEASURE
#define SYST_CSR (*(volatile uint32_t *)0xE000E010u)
#define SYST_RVR (*(volatile uint32_t *)0xE000E014u)
#define SYST_CVR (*(volatile uint32_t *)0xE000E018u)
enum { PAINT_WORDS = 2048 };
static const uint32_t kPaint = 0xA5A5A5A5u;
static volatile uint32_t *paint_low;
static uintptr_t paint_top;

/* paints PAINT_WORDS words of free stack below the caller's stack pointer */
static __attribute__((noinline)) void paint_stack(void) {
  uintptr_t sp;
  int i;
  __asm__ volatile("mov %0, sp" : "=r"(sp));
  paint_top = sp;
  paint_low = (volatile uint32_t *)(sp - 64 - 4 * PAINT_WORDS);
  for (i = 0; i < PAINT_WORDS; ++i) paint_low[i] = kPaint;
}

static unsigned long stack_used(void) {
  volatile uint32_t *p = paint_low;
  while (*p == kPaint) ++p;
  return (unsigned long)(paint_top - (uintptr_t)p);
}

static uint32_t ticks_between(uint32_t before, uint32_t after) {
  return (before - after) & 0xFFFFFFu; /* SysTick counts down, 24 bits */
}
#endif

int main(int argc, char **argv) {
  unsigned char bytes[2 * CHUNK];
  int16_t pcm[CHUNK];
  size_t got, i;
  int label;
  FILE *in;
#ifdef ECL_MEASURE
  unsigned long peak = 0, ticks = 0, used, calibration;
  uint32_t t0, n = 1000000;
  SYST_RVR = 0xFFFFFFu;
  SYST_CVR = 0;
  SYST_CSR = 5; /* processor clock, no interrupt */
  t0 = SYST_CVR;
  __asm__ volatile("1: subs %0, %0, #1\n\tbne 1b" : "+r"(n)); /* 2,000,000 instructions */
  calibration = ticks_between(t0, SYST_CVR);
#endif
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
    for (i = 0; i + 1 < got; i += 2) /* little-endian whatever the host's order */
      pcm[i / 2] = (int16_t)(uint16_t)(bytes[i] | (bytes[i + 1] << 8));
#ifdef ECL_MEASURE
    paint_stack();
    t0 = SYST_CVR;
#endif
    ecl_push_pcm16(&state, pcm, got / 2, on_window, NULL);
#ifdef ECL_MEASURE
    ticks += ticks_between(t0, SYST_CVR);
    used = stack_used();
    peak = used > peak ? used : peak;
#endif
    print_pending();
  }
  fclose(in);
#ifdef ECL_MEASURE
  paint_stack();
  t0 = SYST_CVR;
#endif
  label = ecl_finish(&state, on_window, NULL);
#ifdef ECL_MEASURE
  ticks += ticks_between(t0, SYST_CVR);
  used = stack_used();
  peak = used > peak ? used : peak;
#endif
  {
    const long windows = n_windows;
    print_pending();
    printf("clip,%d\n", label);
#ifdef ECL_MEASURE
    if (argc > 2) {
      FILE *stats = fopen(argv[2], "w");
      if (!stats) return 1;
      fprintf(stats, "stack_bytes,%lu\nlibrary_ticks,%lu\nwindows,%ld\n"
              "calibration_ticks,%lu\ncalibration_instructions,2000000\n",
              peak, ticks, windows, calibration);
      fclose(stats);
    }
#else
    (void)windows;
#endif
  }
#ifdef ECL_KEEP_INPUT
  if (dump) fclose(dump);
#endif
  return 0;
}
