/* embedclf: int8 kernels with TensorFlow Lite's quantisation arithmetic, integer only.
 * Signed right shifts are arithmetic on every compiler this library targets (GCC, Clang). */
#include "embedclf_kernels.h"

#include <stddef.h>

/* round(a * b / 2^31), saturating the one overflow case (as ARM's VQRDMULH) */
static int32_t sat_rounding_doubling_high_mul(int32_t a, int32_t b) {
  int64_t ab;
  int64_t nudge;
  if (a == b && a == INT32_MIN) return INT32_MAX;
  ab = (int64_t)a * (int64_t)b;
  nudge = ab >= 0 ? ((int64_t)1 << 30) : (1 - ((int64_t)1 << 30));
  ab += nudge;
  /* ab / 2^31 truncated toward zero, as C99 division, without a 64-bit division call */
  return (int32_t)(ab >= 0 ? ab >> 31 : -((-ab) >> 31));
}

/* x / 2^exponent rounded to nearest, ties away from zero */
static int32_t rounding_divide_by_pot(int32_t x, int exponent) {
  const int32_t mask = (int32_t)((((int64_t)1) << exponent) - 1);
  const int32_t remainder = x & mask;
  const int32_t threshold = (mask >> 1) + (x < 0 ? 1 : 0);
  return (x >> exponent) + (remainder > threshold ? 1 : 0);
}

int32_t ecl_multiply_by_quantized_multiplier(int32_t x, int32_t multiplier, int shift) {
  const int left = shift > 0 ? shift : 0;
  const int right = shift > 0 ? 0 : -shift;
  return rounding_divide_by_pot(
      sat_rounding_doubling_high_mul((int32_t)((uint32_t)x << left), multiplier), right);
}

static int8_t clamp8(int32_t v, int32_t lo, int32_t hi) {
  return (int8_t)(v < lo ? lo : (v > hi ? hi : v));
}

/* accumulator + bias, rescaled to the output's scale, offset and clamped (the fused
 * activation): every weighted layer's last step */
static int8_t requantize(int32_t acc, int32_t bias, int32_t mult, int shift, int32_t out_offset,
                         int32_t act_min, int32_t act_max) {
  return clamp8(ecl_multiply_by_quantized_multiplier(acc + bias, mult, shift) + out_offset,
                act_min, act_max);
}

/* The filter taps inside the input, [*lo, *hi), for an output whose window starts at start. */
static void tap_range(int start, int k, int size, int *lo, int *hi) {
  *lo = start < 0 ? -start : 0;
  *hi = size - start < k ? size - start : k;
}

void ecl_conv2d(const ecl_conv_params *p, const int8_t *in, int8_t *out) {
  int oy, ox, oc, ky, j;
  for (oy = 0; oy < p->out_h; ++oy) {
    const int iy0 = oy * p->stride_h - p->pad_h;
    int ky0, ky1;
    tap_range(iy0, p->k_h, p->in_h, &ky0, &ky1);
    for (ox = 0; ox < p->out_w; ++ox) {
      const int ix0 = ox * p->stride_w - p->pad_w;
      int kx0, kx1, n;
      int8_t *o = out + ((size_t)oy * p->out_w + ox) * p->out_c;
      tap_range(ix0, p->k_w, p->in_w, &kx0, &kx1);
      n = (kx1 - kx0) * p->in_c; /* a filter row's taps inside the input are contiguous */
      for (oc = 0; oc < p->out_c; ++oc) {
        int32_t acc = 0;
        for (ky = ky0; ky < ky1; ++ky) { /* padding is skipped, as TFLite */
          const int8_t *x = in + ((size_t)(iy0 + ky) * p->in_w + ix0 + kx0) * p->in_c;
          const int8_t *w = p->filter + (((size_t)oc * p->k_h + ky) * p->k_w + kx0) * p->in_c;
          for (j = 0; j < n; ++j) acc += ((int32_t)x[j] + p->in_offset) * w[j];
        }
        o[oc] = requantize(acc, p->bias ? p->bias[oc] : 0, p->mult[oc], p->shift[oc],
                           p->out_offset, p->act_min, p->act_max);
      }
    }
  }
}

void ecl_depthwise_conv2d(const ecl_conv_params *p, const int8_t *in, int8_t *out) {
  int oy, ox, ic, m, ky, kx;
  for (oy = 0; oy < p->out_h; ++oy) {
    const int iy0 = oy * p->stride_h - p->pad_h;
    int ky0, ky1;
    tap_range(iy0, p->k_h, p->in_h, &ky0, &ky1);
    for (ox = 0; ox < p->out_w; ++ox) {
      const int ix0 = ox * p->stride_w - p->pad_w;
      int kx0, kx1;
      int8_t *o = out + ((size_t)oy * p->out_w + ox) * p->out_c;
      tap_range(ix0, p->k_w, p->in_w, &kx0, &kx1);
      for (ic = 0; ic < p->in_c; ++ic) {
        for (m = 0; m < p->depth_multiplier; ++m) {
          const int oc = ic * p->depth_multiplier + m;
          int32_t acc = 0;
          for (ky = ky0; ky < ky1; ++ky) {
            const int8_t *x = in + ((size_t)(iy0 + ky) * p->in_w + ix0 + kx0) * p->in_c + ic;
            const int8_t *w = p->filter + ((size_t)ky * p->k_w + kx0) * p->out_c + oc;
            for (kx = kx0; kx < kx1; ++kx, x += p->in_c, w += p->out_c)
              acc += ((int32_t)*x + p->in_offset) * *w;
          }
          o[oc] = requantize(acc, p->bias ? p->bias[oc] : 0, p->mult[oc], p->shift[oc],
                             p->out_offset, p->act_min, p->act_max);
        }
      }
    }
  }
}

void ecl_fully_connected(const ecl_fc_params *p, const int8_t *in, int8_t *out) {
  int o, i;
  for (o = 0; o < p->n_out; ++o) {
    const int8_t *w = p->filter + (size_t)o * p->n_in;
    int32_t acc = 0;
    for (i = 0; i < p->n_in; ++i) acc += ((int32_t)in[i] + p->in_offset) * w[i];
    out[o] = requantize(acc, p->bias ? p->bias[o] : 0, p->mult[o], p->shift[o], p->out_offset,
                        p->act_min, p->act_max);
  }
}

void ecl_mean_hw(const ecl_mean_params *p, const int8_t *in, int8_t *out) {
  int c, i;
  for (c = 0; c < p->channels; ++c) {
    int32_t sum = 0;
    for (i = 0; i < p->n_hw; ++i) sum += in[(size_t)i * p->channels + c];
    sum -= p->in_zero_point * p->n_hw;
    out[c] = clamp8(ecl_multiply_by_quantized_multiplier(sum, p->mult, p->shift) +
                    p->out_zero_point, -128, 127);
  }
}

/* gemmlowp fixed point: raw int32 values with a given number of integer bits */
static int32_t fp_mul(int32_t a, int32_t b) { return sat_rounding_doubling_high_mul(a, b); }

static int32_t sat_mul_pot(int32_t x, int exponent) { /* x * 2^exponent, saturating or rounding */
  if (exponent > 0) {
    const int32_t threshold = (int32_t)((((int64_t)1) << (31 - exponent)) - 1);
    if (x > threshold) return INT32_MAX;
    if (x < -threshold) return INT32_MIN;
    return (int32_t)((uint32_t)x << exponent);
  }
  if (exponent < 0) return rounding_divide_by_pot(x, -exponent);
  return x;
}

static int32_t rounding_half_sum(int32_t a, int32_t b) {
  const int64_t sum = (int64_t)a + (int64_t)b;
  const int64_t sign = sum >= 0 ? 1 : -1;
  return (int32_t)((sum + sign) / 2);
}

/* exp(a) for a in [-1/4, 0), Q0.31 in and out */
static int32_t exp_quarter(int32_t a) {
  const int32_t constant_term = 1895147668;     /* exp(-1/8) */
  const int32_t constant_1_over_3 = 715827883;  /* 1/3 */
  const int32_t x = a + (1 << 28);              /* a + 1/8 */
  const int32_t x2 = fp_mul(x, x);
  const int32_t x3 = fp_mul(x2, x);
  const int32_t x4 = fp_mul(x2, x2);
  const int32_t x4_over_4 = sat_mul_pot(x4, -2);
  const int32_t poly = sat_mul_pot(fp_mul(x4_over_4 + x3, constant_1_over_3) + x2, -1);
  return constant_term + fp_mul(constant_term, x + poly);
}

/* exp(a) for a <= 0: a in Q5.26 (5 integer bits), result Q0.31 */
static int32_t exp_on_negative_values(int32_t a) {
  enum { kIntegerBits = 5, kFractionalBits = 26 };
  static const int32_t kMultipliers[7] = {1672461947, 1302514674, 790015084, 290630308,
                                          39332535, 720401, 242};
  const int32_t one_quarter = (int32_t)1 << (kFractionalBits - 2);
  const int32_t mask = one_quarter - 1;
  const int32_t a_mod_minus_quarter = (a & mask) - one_quarter;
  int32_t result = exp_quarter(sat_mul_pot(a_mod_minus_quarter, kIntegerBits));
  const int32_t remainder = a_mod_minus_quarter - a;
  int k;
  for (k = 0; k < 7; ++k) { /* exponents -2 .. 4: all below kIntegerBits = 5 */
    const int shift = kFractionalBits + (k - 2);
    if (remainder & ((int32_t)1 << shift)) result = fp_mul(result, kMultipliers[k]);
  }
  if (a == 0) result = INT32_MAX; /* One() of Q0.31 */
  return result;
}

/* 1 / (1 + x) for x in [0, 1), Q0.31 in and out (Newton-Raphson in Q2.29) */
static int32_t one_over_one_plus_x(int32_t a) {
  const int32_t half_denominator = rounding_half_sum(a, INT32_MAX);
  const int32_t c48_17 = 1515870810, c_neg32_17 = -1010580540;
  const int32_t one_q2 = (int32_t)1 << 29;
  int32_t x = c48_17 + fp_mul(half_denominator, c_neg32_17);
  int i;
  for (i = 0; i < 3; ++i) {
    const int32_t one_minus = one_q2 - fp_mul(half_denominator, x);
    x = x + sat_mul_pot(fp_mul(x, one_minus), 2);
  }
  return sat_mul_pot(x, 1);
}

static int count_leading_zeros(uint32_t x) {
  int n = 0;
  if (x == 0) return 32;
  while (!(x & 0x80000000u)) { x <<= 1; ++n; }
  return n;
}

void ecl_softmax(const ecl_softmax_params *p, const int8_t *in, int8_t *out) {
  enum { kAccumulationIntegerBits = 12, kScaledDiffIntegerBits = 5 };
  int8_t max_in = -128;
  int32_t sum_of_exps = 0, shifted_scale, shifted_sum_minus_one;
  int c, headroom_plus_one, num_bits_over_unit, exponent;
  for (c = 0; c < p->depth; ++c) max_in = in[c] > max_in ? in[c] : max_in;
  for (c = 0; c < p->depth; ++c) {
    const int32_t diff = (int32_t)in[c] - max_in;
    if (diff >= p->diff_min) {
      const int32_t scaled = sat_rounding_doubling_high_mul(
          (int32_t)((uint32_t)diff << p->input_left_shift), p->input_multiplier);
      sum_of_exps += sat_mul_pot(exp_on_negative_values(scaled),
                                 0 - kAccumulationIntegerBits);
    }
  }
  headroom_plus_one = count_leading_zeros((uint32_t)sum_of_exps);
  num_bits_over_unit = kAccumulationIntegerBits - headroom_plus_one;
  shifted_sum_minus_one =
      (int32_t)(((uint32_t)sum_of_exps << headroom_plus_one) - ((uint32_t)1 << 31));
  shifted_scale = one_over_one_plus_x(shifted_sum_minus_one);
  exponent = num_bits_over_unit + 31 - 8;
  for (c = 0; c < p->depth; ++c) {
    const int32_t diff = (int32_t)in[c] - max_in;
    if (diff >= p->diff_min) {
      const int32_t scaled = sat_rounding_doubling_high_mul(
          (int32_t)((uint32_t)diff << p->input_left_shift), p->input_multiplier);
      const int32_t e = exp_on_negative_values(scaled);
      const int32_t unsat = rounding_divide_by_pot(fp_mul(shifted_scale, e), exponent);
      out[c] = clamp8(unsat - 128, -128, 127);
    } else {
      out[c] = -128;
    }
  }
}
