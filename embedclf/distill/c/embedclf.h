/* embedclf: streaming sound classification with the exported student.
 *
 *   ecl_state st;                        -- about 4.4 KB for the default student
 *   ecl_init(&st);
 *   ecl_push_pcm16(&st, samples, n, on_window, user);   -- any number of samples, any times
 *   label = ecl_finish(&st, on_window, user);           -- end of a clip: its class index
 *
 * on_window(index, scores, user) is called whenever an analysis window completes,
 * with the network's int8 class scores (probability = (q - ECL_OUTPUT_ZERO_POINT) *
 * ECL_OUTPUT_SCALE), valid during the call only. Samples are mono at ECL_SAMPLE_RATE.
 * No heap; one static work area (the frontend's FFT buffers and the network's
 * ECL_SCRATCH_BYTES of activations, never live at once) shared by all states: not
 * reentrant. */
#ifndef EMBEDCLF_H_
#define EMBEDCLF_H_

#include <stddef.h>
#include <stdint.h>

#include "embedclf_network.h"

typedef void (*ecl_window_fn)(long index, const int8_t *scores, void *user);

typedef struct {
  float samples[ECL_N_FFT];                     /* the frame being filled */
  int n_samples;                                /* samples in it */
  int8_t frames[ECL_WINDOW_FRAMES][ECL_N_MELS]; /* ring of the latest frames: int8 input */
#if ECL_HAS_TOP_DB
  float frame_top[ECL_WINDOW_FRAMES];           /* each ring frame's loudest value, in dB */
#endif
  long n_frames; /* frames computed so far (moved back by a multiple of the window and hop
                   on long streams: see ECL_FRAMES_REBASE) */
  long n_windows;                               /* windows scored so far */
  int64_t n_input;                              /* samples pushed in this clip */
  float min_db;                                 /* quietest value of the clip so far */
  double pooled[ECL_N_CLASSES];                 /* clip pooling sums */
} ecl_state;

void ecl_init(ecl_state *st);
/* Push samples; returns the number of windows completed (on_window may be NULL). */
int ecl_push_pcm16(ecl_state *st, const int16_t *pcm, size_t n, ecl_window_fn on_window,
                   void *user);
int ecl_push_float(ecl_state *st, const float *x, size_t n, ecl_window_fn on_window,
                   void *user);
/* End of the clip: pads and scores its last window as the Python student does, returns the
 * clip's class index (pooled as the student was trained) and re-initialises the state. */
int ecl_finish(ecl_state *st, ecl_window_fn on_window, void *user);
#ifdef ECL_KEEP_INPUT
/* The int8 network input of the last window scored (n_mels x window_frames); built with
 * ECL_KEEP_INPUT defined only (it costs a copy of the input in RAM). */
const int8_t *ecl_last_input(void);
#endif
/* Index of the largest score, the first one on ties. */
int ecl_argmax(const int8_t *scores);

#endif
