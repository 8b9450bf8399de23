/* embedclf: log-mel frontend, streaming windows and clip pooling (float32, C99).
 *
 * Per frame: the Hann-windowed samples, a radix-2 real FFT, power, a sparse mel
 * filterbank, 10 log10 in dB, standardisation per band and int8 quantisation into a
 * ring of frames; per window: clipping WINDOW_TOP_DB below its maximum (on the int8
 * values, which is exact: see quantize_band), then the network.
 * The FFT's rounding differs from the Python frontend's (pocketfft/FFTW in float32),
 * so an int8 input can differ by one step where a value falls next to a rounding
 * boundary (as can the logarithm's, computed here from basic float operations so that
 * every IEEE-754 target, host or Cortex-M4, computes the same bits). */
#include "embedclf.h"

#include <math.h>
#include <string.h>

/* The frontend's float buffers and the network's activations share one static work area:
 * they are never live at the same time (a frame is complete before its window is scored,
 * and the network's output is consumed before the next frame is computed). */
static union {
  struct {
    float re[ECL_N_FFT / 2], im[ECL_N_FFT / 2]; /* the half-length complex FFT */
    float power[ECL_N_FFT / 2 + 1];
  } fe;
  int8_t net[ECL_SCRATCH_BYTES]; /* activations, offsets planned at export time */
} ecl_work;
/* A stream may run for years, longer than a 32-bit frame count lasts (about 16 months at
 * 50 frames a second). Every use of the count is blind to moving it back by a common
 * multiple of the window and the hop (ring slots, window starts, the tail's position), so
 * it is moved back by ECL_FRAMES_REBASE whenever it reaches twice that. Defined smaller
 * (make EXTRA_CFLAGS=-DECL_FRAMES_REBASE=N) to check that it changes nothing. */
#ifndef ECL_FRAMES_REBASE
#define ECL_FRAMES_REBASE (ECL_WINDOW_FRAMES * ECL_HOP_FRAMES * 4096L)
#endif
#if ECL_FRAMES_REBASE % ECL_WINDOW_FRAMES || ECL_FRAMES_REBASE % ECL_HOP_FRAMES || \
    ECL_FRAMES_REBASE > 0x3FFFFFFFL
#error "ECL_FRAMES_REBASE must be a multiple of the window and the hop, below 2^30 frames"
#endif

#ifdef ECL_KEEP_INPUT /* for checking the features: the network overwrites its input */
static int8_t ecl_input_copy[ECL_N_MELS * ECL_WINDOW_FRAMES];
#endif

/* 10 log10(x) for x > 0 from basic float operations (frexpf is exact): the same bits on
 * every IEEE-754 target with contraction off; within about 2 ulp of the exact value */
static float ecl_db(float x) {
  int e;
  float m = frexpf(x, &e), t, t2, s;
  if (m < 0.70710678f) { m *= 2.0f; e -= 1; }
  t = (m - 1.0f) / (m + 1.0f); /* log(m) = 2 atanh(t), |t| <= 0.1716 */
  t2 = t * t;
  s = t * (2.0f + t2 * (0.666666667f + t2 * (0.4f + t2 * (0.285714286f + t2 * 0.222222222f))));
  return 4.34294482f * s + (float)e * 3.01029996f; /* 10/ln 10 and 10 log10 2 */
}

#if ECL_POOLING == 1
/* natural logarithm from basic double operations, for the log-mean clip pooling */
static double ecl_log(double x) {
  /* log(m 2^e) = e log 2 + 2 atanh(t), t = (m-1)/(m+1), |t| <= 0.172: nine terms of
   * the series leave an error below 1e-16 relative */
  static const double kInvOdd[9] = {1.0, 1.0 / 3, 1.0 / 5, 1.0 / 7, 1.0 / 9, 1.0 / 11,
                                    1.0 / 13, 1.0 / 15, 1.0 / 17};
  int e, k;
  double m = frexp(x, &e), t, t2, s = 0.0, term;
  if (m < 0.70710678118654752440) { m *= 2.0; e -= 1; }
  t = (m - 1.0) / (m + 1.0);
  t2 = t * t;
  term = t;
  for (k = 0; k < 9; ++k) { s += term * kInvOdd[k]; term *= t2; }
  return 2.0 * s + (double)e * 0.69314718055994530942;
}
#endif

static void fft_frame(const float *samples, float *power) {
  /* complex FFT of N/2 points z[n] = y[2n] + i y[2n+1] of the windowed frame
   * y = samples * window (computed while loading), then the real-input split */
  enum { H = ECL_N_FFT / 2 };
  float *re = ecl_work.fe.re, *im = ecl_work.fe.im;
  int i, j, len, k;
  for (i = 0; i < H; ++i) {
    int r = 0, b;
    for (b = 0; b < ECL_LOG2_HALF_FFT; ++b) r |= ((i >> b) & 1) << (ECL_LOG2_HALF_FFT - 1 - b);
    re[r] = samples[2 * i] * ecl_window[2 * i];
    im[r] = samples[2 * i + 1] * ecl_window[2 * i + 1];
  }
  for (len = 2; len <= H; len <<= 1) {
    const int step = ECL_N_FFT / len; /* twiddle stride in the N-point tables */
    for (i = 0; i < H; i += len) {
      for (j = 0; j < len / 2; ++j) {
        const float wr = ecl_cos[j * step], wi = ecl_sin[j * step];
        const int a = i + j, c = i + j + len / 2;
        const float tr = re[c] * wr - im[c] * wi;
        const float ti = re[c] * wi + im[c] * wr;
        re[c] = re[a] - tr;
        im[c] = im[a] - ti;
        re[a] = re[a] + tr;
        im[a] = im[a] + ti;
      }
    }
  }
  /* X[k] = (Z[k] + conj(Z[H-k]))/2 + W^k (Z[k] - conj(Z[H-k]))/(2i) */
  for (k = 0; k <= H; ++k) {
    const int a = k % H, b = (H - k) % H;
    const float er = 0.5f * (re[a] + re[b]), ei = 0.5f * (im[a] - im[b]);
    const float odr = 0.5f * (im[a] + im[b]), odi = -0.5f * (re[a] - re[b]);
    float wr, wi, xr, xi;
    if (k < H) { wr = ecl_cos[k]; wi = ecl_sin[k]; } else { wr = -1.0f; wi = 0.0f; }
    xr = er + (odr * wr - odi * wi);
    xi = ei + (odr * wi + odi * wr);
#if ECL_POWER == 2
    power[k] = xr * xr + xi * xi;
#else
    power[k] = sqrtf(xr * xr + xi * xi);
#endif
  }
}

/* The int8 network input of one value of band b, as Python quantises the standardised
 * features. Monotone in v (each float step is), so clipping commutes with it:
 * quantize_band(max(v, f), b) == max(quantize_band(v, b), quantize_band(f, b)). */
static int8_t quantize_band(float v, int b) {
  float r;
  v = (v - ecl_mean[b]) / ecl_std[b];
  r = rintf(v / ECL_INPUT_SCALE) + (float)ECL_INPUT_ZERO_POINT; /* ties to even */
  r = r > 127.0f ? 127.0f : (r < -128.0f ? -128.0f : r);
  return (int8_t)r;
}

static void compute_frame(ecl_state *st) {
  float *power = ecl_work.fe.power;
  const int slot = (int)(st->n_frames % ECL_WINDOW_FRAMES);
  int8_t *out = st->frames[slot];
  float top = -INFINITY;
  int i, b, w = 0;
  fft_frame(st->samples, power);
  for (b = 0; b < ECL_N_MELS; ++b) {
    float mel = 0.0f, db;
    const int s = ecl_mel_start[b];
    for (i = 0; i < ecl_mel_count[b]; ++i) mel += ecl_mel_weights[w++] * power[s + i];
    mel = mel > ECL_AMIN ? mel : ECL_AMIN;
    db = ecl_db(mel) - ECL_REF_DB;
    if (db < st->min_db) st->min_db = db;
    if (db > top) top = db;
    out[b] = quantize_band(db, b);
  }
#if ECL_HAS_TOP_DB
  st->frame_top[slot] = top;
#else
  (void)top;
#endif
  st->n_frames++;
}

int ecl_argmax(const int8_t *scores) {
  int c, best = 0;
  for (c = 1; c < ECL_N_CLASSES; ++c) if (scores[c] > scores[best]) best = c;
  return best;
}

/* Scores the window of frames [start, start + ECL_WINDOW_FRAMES); frames at or past
 * n_valid are the clip's quietest value, as Python pads a clip's last window. The ring
 * holds int8 values: clipping WINDOW_TOP_DB below the window's loudest value (kept per
 * frame in float) is applied to them exactly (quantize_band is monotone). */
static void score_window(ecl_state *st, long start, long n_valid, ecl_window_fn fn, void *user) {
  int8_t *x = ecl_work.net + ECL_INPUT_OFFSET;
  const int8_t *q;
  int t, b, c;
#if ECL_HAS_TOP_DB
  float top = -INFINITY, floor_db;
  for (t = 0; t < ECL_WINDOW_FRAMES; ++t) {
    const float v =
        start + t < n_valid ? st->frame_top[(start + t) % ECL_WINDOW_FRAMES] : st->min_db;
    if (v > top) top = v;
  }
  floor_db = top - ECL_TOP_DB;
#endif
  for (b = 0; b < ECL_N_MELS; ++b) {
    const int8_t pad = start + ECL_WINDOW_FRAMES > n_valid ? quantize_band(st->min_db, b) : 0;
#if ECL_HAS_TOP_DB
    const int8_t lo = quantize_band(floor_db, b);
#endif
    for (t = 0; t < ECL_WINDOW_FRAMES; ++t) {
      int8_t v = start + t < n_valid ? st->frames[(start + t) % ECL_WINDOW_FRAMES][b] : pad;
#if ECL_HAS_TOP_DB
      v = v > lo ? v : lo;
#endif
      x[b * ECL_WINDOW_FRAMES + t] = v; /* network input is (mels, frames, 1) */
    }
  }
#ifdef ECL_KEEP_INPUT
  memcpy(ecl_input_copy, x, sizeof ecl_input_copy);
#endif
  q = ecl_network_run(ecl_work.net);
  for (c = 0; c < ECL_N_CLASSES; ++c) {
#if ECL_POOLING == 2
    st->pooled[c] += c == ecl_argmax(q) ? 1.0 : 0.0;
#else
    double p = (double)(((float)q[c] - (float)ECL_OUTPUT_ZERO_POINT) * ECL_OUTPUT_SCALE);
#if ECL_POOLING == 1
    st->pooled[c] += ecl_log(p > ECL_LOG_FLOOR ? p : ECL_LOG_FLOOR);
#else
    st->pooled[c] += p;
#endif
#endif
  }
  if (fn) fn(st->n_windows, q, user);
  st->n_windows++;
}

#ifdef ECL_KEEP_INPUT
const int8_t *ecl_last_input(void) { return ecl_input_copy; }
#endif

void ecl_init(ecl_state *st) {
  memset(st, 0, sizeof(*st));
  st->min_db = INFINITY;
#if ECL_CENTER
  st->n_samples = ECL_N_FFT / 2; /* the clip is padded with n_fft/2 zeros in front */
#endif
}

static int push_sample(ecl_state *st, float v, ecl_window_fn fn, void *user) {
  st->samples[st->n_samples++] = v;
  if (st->n_samples < ECL_N_FFT) return 0;
  compute_frame(st);
  memmove(st->samples, st->samples + ECL_HOP_LENGTH,
          sizeof(float) * (ECL_N_FFT - ECL_HOP_LENGTH));
  st->n_samples = ECL_N_FFT - ECL_HOP_LENGTH;
  {
    const long start = st->n_frames - ECL_WINDOW_FRAMES;
    int scored = 0;
    if (start >= 0 && start % ECL_HOP_FRAMES == 0) {
      score_window(st, start, st->n_frames, fn, user);
      scored = 1;
    }
    if (st->n_frames >= 2 * ECL_FRAMES_REBASE) st->n_frames -= ECL_FRAMES_REBASE;
    return scored;
  }
}

int ecl_push_float(ecl_state *st, const float *x, size_t n, ecl_window_fn fn, void *user) {
  size_t i;
  int done = 0;
  for (i = 0; i < n; ++i) done += push_sample(st, x[i], fn, user);
  st->n_input += (int64_t)n;
  return done;
}

int ecl_push_pcm16(ecl_state *st, const int16_t *pcm, size_t n, ecl_window_fn fn, void *user) {
  size_t i;
  int done = 0;
  for (i = 0; i < n; ++i) done += push_sample(st, (float)pcm[i] / 32768.0f, fn, user);
  st->n_input += (int64_t)n;
  return done;
}

int ecl_finish(ecl_state *st, ecl_window_fn fn, void *user) {
  long n, last;
  int c, best = 0, i;
#if ECL_CENTER
  for (i = 0; i < ECL_N_FFT / 2; ++i) push_sample(st, 0.0f, fn, user);
#endif
  if (st->n_frames == 0) { /* shorter than one frame: zero-filled to one */
    while (st->n_samples < ECL_N_FFT) st->samples[st->n_samples++] = 0.0f;
    st->n_samples = ECL_N_FFT - 1;
    push_sample(st, 0.0f, fn, user);
  }
  (void)i;
  n = st->n_frames;
  if (n < ECL_WINDOW_FRAMES) {
    score_window(st, 0, n, fn, user);
  } else {
    last = ((n - ECL_WINDOW_FRAMES) / ECL_HOP_FRAMES) * ECL_HOP_FRAMES;
    if (last + ECL_WINDOW_FRAMES < n && last + ECL_HOP_FRAMES < n)
      score_window(st, last + ECL_HOP_FRAMES, n, fn, user);
  }
  for (c = 0; c < ECL_N_CLASSES; ++c) {
    st->pooled[c] /= (double)(st->n_windows > 0 ? st->n_windows : 1);
    if (st->pooled[c] > st->pooled[best]) best = c;
  }
  ecl_init(st);
  return best;
}
