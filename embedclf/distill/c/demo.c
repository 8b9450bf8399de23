/* embedclf demo: classify a raw 16-bit little-endian mono PCM file and find its events.
 *   embedclf_demo [--first-sample=N] IN.pcm
 * prints "window,label_index,q0,q1,..." per analysis window (the int8 scores),
 * "event,label_index,onset,offset,score,detected,decided,label" per sound event when its
 * end is decided (samples from the start; embedclf_events.h; score as the 8 hex digits of
 * its float32 bits), then "clip,label_index". --first-sample=N reports event positions from
 * sample N on (ecl_listener_start_at), as a device keeping a running sample clock would.
 * Built with ECL_KEEP_INPUT, a second argument names a file that receives each window's
 * int8 network input. Built with ECL_MEASURE (the Cortex-M4 firmware), a second argument
 * names a file that receives the library's peak stack and SysTick ticks (the demo's own
 * I/O excluded), with a calibration loop of a known instruction count, and the whole
 * program's peak stack (from main's entry) and heap. Files are read and written with
 * open/read/write, not fopen: newlib allocates each FILE from the heap, and its malloc then
 * claims memory up to a page boundary (hundreds to thousands of bytes, by where the heap
 * starts). Only stdout is a stdio stream, with a static buffer. */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "embedclf.h"
#include "embedclf_events.h"

enum { CHUNK = 256, MAX_PENDING = 16, IO_BUFFER = 128 };

static ecl_state state;
static ecl_listener listener;
static ecl_event events[MAX_PENDING]; /* events decided during a push, printed after it */
static int n_events;
static int8_t pending[MAX_PENDING][ECL_N_CLASSES]; /* printed after each push: the */
static long pending_index[MAX_PENDING];           /* library's calls stay free of I/O */
static int n_pending;
static long n_windows;
#ifdef ECL_KEEP_INPUT
static FILE *dump;
#endif
/* a small static stdout buffer, so that newlib does not allocate BUFSIZ bytes for it */
static char out_buffer[IO_BUFFER];

/* reads up to n bytes, fewer only at the end of the file */
static size_t read_full(int fd, unsigned char *buf, size_t n) {
  size_t got = 0;
  while (got < n) {
    long r = (long)read(fd, buf + got, n - got);
    if (r <= 0) break;
    got += (size_t)r;
  }
  return got;
}

static void print_pending(void);

/* N of "--first-sample=N" (decimal digits, optionally negative); -1 when malformed */
static int parse_first_sample(const char *arg, int64_t *out) {
  const char *p = arg + strlen("--first-sample=");
  int negative = *p == '-';
  uint64_t u = 0;
  if (negative) ++p;
  if (!*p) return -1;
  for (; *p; ++p) {
    if (*p < '0' || *p > '9' || u > ((uint64_t)INT64_MAX - 9u) / 10u) return -1;
    u = u * 10u + (uint64_t)(*p - '0');
  }
  *out = negative ? -(int64_t)u : (int64_t)u;
  return 0;
}

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

static void on_event(const ecl_event *e, void *user) {
  (void)user;
  if (n_events == MAX_PENDING) print_pending();
  events[n_events++] = *e;
}

static void print_pending(void) {
  int k, c;
  for (k = 0; k < n_pending; ++k) {
    printf("%ld,%d", pending_index[k], ecl_argmax(pending[k]));
    for (c = 0; c < ECL_N_CLASSES; ++c) printf(",%d", pending[k][c]);
    printf("\n");
  }
  n_pending = 0;
  for (k = 0; k < n_events; ++k) {
    const ecl_event *e = &events[k];
    uint32_t bits; /* the score's float32 bits: printing a float would make newlib allocate */
    memcpy(&bits, &e->score, sizeof bits);
    printf("event,%d,%lld,%lld,%08lx,%lld,%lld,%s\n", e->label, (long long)e->onset,
           (long long)e->offset, (unsigned long)bits, (long long)e->detected,
           (long long)e->decided, ecl_labels[e->label]);
  }
  n_events = 0;
}

#ifdef ECL_MEASURE
#define SYST_CSR (*(volatile uint32_t *)0xE000E010u)
#define SYST_RVR (*(volatile uint32_t *)0xE000E014u)
#define SYST_CVR (*(volatile uint32_t *)0xE000E018u)
enum { PAINT_WORDS = 2048, PROGRAM_PAINT_WORDS = 4096 };
static const uint32_t kPaint = 0xA5A5A5A5u;
static volatile uint32_t *paint_low, *program_low;
static uintptr_t paint_top, program_top;
static unsigned long program_peak;
extern void *_sbrk(ptrdiff_t increment); /* newlib's (rdimon's) heap */
extern char end[];                        /* the heap starts here (the linker script) */

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

/* paints PROGRAM_PAINT_WORDS words below main's frame, once, before anything else runs */
static __attribute__((noinline)) void paint_program_stack(void) {
  uintptr_t sp;
  int i;
  __asm__ volatile("mov %0, sp" : "=r"(sp));
  program_low = (volatile uint32_t *)(sp - 64 - 4 * PROGRAM_PAINT_WORDS);
  for (i = 0; i < PROGRAM_PAINT_WORDS; ++i) program_low[i] = kPaint;
}

/* the whole program's deepest stack so far, from main's entry; called before each
 * repaint of the library's region, which would hide the demo's own deeper calls */
static void program_stack_checkpoint(void) {
  volatile uint32_t *p = program_low;
  unsigned long used;
  while (*p == kPaint) ++p;
  used = (unsigned long)(program_top - (uintptr_t)p);
  program_peak = used > program_peak ? used : program_peak;
}

/* appends "name,value\n" to text at len (no snprintf: newlib's string printf is a second
 * copy of the whole formatter, about 6 KB of flash) */
static size_t put_stat(char *text, size_t len, const char *name, unsigned long value) {
  char digits[12];
  int n = 0;
  while (*name) text[len++] = *name++;
  text[len++] = ',';
  do digits[n++] = (char)('0' + value % 10); while ((value /= 10) != 0);
  while (n) text[len++] = digits[--n];
  text[len++] = '\n';
  return len;
}

static uint32_t ticks_between(uint32_t before, uint32_t after) {
  return (before - after) & 0xFFFFFFu; /* SysTick counts down, 24 bits */
}
#endif

static int run(int argc, char **argv);

int main(int argc, char **argv) {
#ifdef ECL_MEASURE
  uintptr_t sp;
  __asm__ volatile("mov %0, sp" : "=r"(sp));
  program_top = sp;
  paint_program_stack();
#endif
  return run(argc, argv);
}

static __attribute__((noinline)) int run(int argc, char **argv) {
  int16_t pcm[CHUNK]; /* read as little-endian bytes, converted in place */
  unsigned char *bytes = (unsigned char *)pcm;
  size_t got, i;
  int label, in;
  int64_t first_sample = 0;
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
  setvbuf(stdout, out_buffer, _IOFBF, sizeof out_buffer);
  if (argc > 1 && strncmp(argv[1], "--first-sample=", strlen("--first-sample=")) == 0) {
    if (parse_first_sample(argv[1], &first_sample)) {
      fprintf(stderr, "bad %s: expected --first-sample=N (an integer)\n", argv[1]);
      return 2;
    }
    argv[1] = argv[0];
    ++argv;
    --argc;
  }
  if (argc < 2) {
    fprintf(stderr, "usage: %s [--first-sample=N] IN.pcm  (16-bit mono PCM at %d Hz)\n",
            argv[0], ECL_SAMPLE_RATE);
    return 2;
  }
  in = open(argv[1], O_RDONLY);
  if (in < 0) {
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
  ecl_listener_init(&listener, on_event, on_window, NULL);
  ecl_listener_start_at(&listener, first_sample);
  while ((got = read_full(in, bytes, sizeof pcm)) >= 2) {
    for (i = 0; i + 1 < got; i += 2) /* little-endian whatever the host's order */
      pcm[i / 2] = (int16_t)(uint16_t)(bytes[i] | (bytes[i + 1] << 8));
#ifdef ECL_MEASURE
    program_stack_checkpoint();
    paint_stack();
    t0 = SYST_CVR;
#endif
    ecl_listen_pcm16(&state, &listener, pcm, got / 2);
#ifdef ECL_MEASURE
    ticks += ticks_between(t0, SYST_CVR);
    used = stack_used();
    peak = used > peak ? used : peak;
#endif
    print_pending();
  }
  close(in);
#ifdef ECL_MEASURE
  program_stack_checkpoint();
  paint_stack();
  t0 = SYST_CVR;
#endif
  label = ecl_listen_finish(&state, &listener);
#ifdef ECL_MEASURE
  ticks += ticks_between(t0, SYST_CVR);
  used = stack_used();
  peak = used > peak ? used : peak;
#endif
  {
    const long windows = n_windows;
    print_pending();
    printf("clip,%d\n", label);
    fflush(stdout);
#ifdef ECL_MEASURE
    if (argc > 2) {
      static char text[256];
      size_t len = 0;
      int fd = open(argv[2], O_WRONLY | O_CREAT | O_TRUNC, 0644);
      if (fd < 0) return 1;
      program_stack_checkpoint();
      len = put_stat(text, len, "stack_bytes", peak);
      len = put_stat(text, len, "library_ticks", ticks);
      len = put_stat(text, len, "windows", (unsigned long)windows);
      len = put_stat(text, len, "calibration_ticks", calibration);
      len = put_stat(text, len, "calibration_instructions", 2000000ul);
      len = put_stat(text, len, "program_stack_bytes", program_peak);
      len = put_stat(text, len, "heap_bytes", (unsigned long)((char *)_sbrk(0) - end));
      if (write(fd, text, len) != (long)len) return 1;
      close(fd);
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
