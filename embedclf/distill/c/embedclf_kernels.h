/* embedclf: int8 kernels with TensorFlow Lite's quantisation arithmetic.
 * Written for embedclf from the TFLite reference kernels' documented
 * behaviour (per-channel requantisation, rounding, saturation); C99, no heap. */
#ifndef EMBEDCLF_KERNELS_H_
#define EMBEDCLF_KERNELS_H_

#include <stdint.h>

/* One CONV_2D or DEPTHWISE_CONV_2D layer (NHWC, batch 1, dilation 1). */
typedef struct {
  int in_h, in_w, in_c, out_h, out_w, out_c;
  int k_h, k_w, stride_h, stride_w, pad_h, pad_w, depth_multiplier;
  int32_t in_offset, out_offset, act_min, act_max;
  const int8_t *filter;   /* CONV_2D: [out_c][k_h][k_w][in_c]; depthwise: [k_h][k_w][out_c] */
  const int32_t *bias;    /* [out_c] or NULL */
  const int32_t *mult;    /* per output channel */
  const int8_t *shift;    /* per output channel, TFLite's sign convention */
} ecl_conv_params;

/* FULLY_CONNECTED (per-channel or per-tensor: mult/shift of n_out entries). */
typedef struct {
  int n_in, n_out;
  int32_t in_offset, out_offset, act_min, act_max;
  const int8_t *filter;   /* [n_out][n_in] */
  const int32_t *bias;    /* [n_out] or NULL */
  const int32_t *mult;
  const int8_t *shift;
} ecl_fc_params;

/* MEAN over height and width (TFLite's integer QuantizedMeanOrSum: the 1/n_hw folded
 * into the multiplier). */
typedef struct {
  int n_hw, channels;
  int32_t in_zero_point, out_zero_point, mult, shift;
} ecl_mean_params;

/* SOFTMAX int8 -> int8 (gemmlowp fixed point, as TFLite's reference). */
typedef struct {
  int depth;
  int32_t input_multiplier, input_left_shift, diff_min;
} ecl_softmax_params;

int32_t ecl_multiply_by_quantized_multiplier(int32_t x, int32_t multiplier, int shift);
void ecl_conv2d(const ecl_conv_params *p, const int8_t *in, int8_t *out);
void ecl_depthwise_conv2d(const ecl_conv_params *p, const int8_t *in, int8_t *out);
void ecl_fully_connected(const ecl_fc_params *p, const int8_t *in, int8_t *out);
void ecl_mean_hw(const ecl_mean_params *p, const int8_t *in, int8_t *out);
void ecl_softmax(const ecl_softmax_params *p, const int8_t *in, int8_t *out);

#endif
