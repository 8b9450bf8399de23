/* embedclf events: smoothed sound events from the student's window scores, on the device.
 *
 * The decisions of embedclf.stream.Recognizer (RecognizeCommands-style): each window's
 * scores are averaged with the previous ones over ECL_EV_N_SMOOTH windows; an event starts
 * when the top smoothed class is not a background label, reaches ECL_EV_THRESHOLD and no
 * event ended less than ECL_EV_SUPPRESSION seconds before; it lasts while its smoothed score
 * stays at or above ECL_EV_THRESHOLD_OFF and is reported when it ends, if it lasted
 * ECL_EV_MIN_DURATION seconds. The constants (embedclf_events_config.h) are written by export
 * from the Recognizer's settings; the arithmetic is the Recognizer's, in double precision, so
 * the same window scores give the same events.
 *
 * With the audio pipeline (embedclf.h):
 *
 *   static ecl_state st;  static ecl_listener ls;
 *   ecl_init(&st);
 *   ecl_listener_init(&ls, on_event, on_window, user);    -- on_window may be NULL
 *   ecl_listen_pcm16(&st, &ls, samples, n);                -- any number of samples, any times
 *   ecl_listen_finish(&st, &ls);                           -- end of the stream
 *
 * on_event(event, user) is called once per event, when its end is decided. Or, on window
 * scores computed elsewhere: ecl_events_init, ecl_events_window per window and
 * ecl_events_finish. Fixed-size state, no heap. Sample positions are 64-bit: a stream may
 * run for years (a 32-bit count wraps after 37 hours at 16 kHz). */
#ifndef EMBEDCLF_EVENTS_H_
#define EMBEDCLF_EVENTS_H_

#include <stddef.h>
#include <stdint.h>

#include "embedclf.h"
#include "embedclf_events_config.h"

typedef struct {
  int label;     /* class index (ecl_labels[label]); never a background class */
  int64_t onset;    /* first sample of the event, from the start of the stream */
  int64_t offset;   /* one past its last sample (the Recognizer's times, to the nearest sample) */
  float score;      /* the highest smoothed score of label during the event */
  int64_t detected; /* end sample of the window that started it */
  int64_t decided;  /* end sample of the window that ended it (or the stream's length) */
} ecl_event;

typedef struct {
  int8_t recent[ECL_EV_N_SMOOTH][ECL_N_CLASSES]; /* ring of the last windows' scores */
  double recent_start[ECL_EV_N_SMOOTH];          /* and their spans, in seconds */
  double recent_end[ECL_EV_N_SMOOTH];
  int n_recent, head;                            /* windows in the ring, the oldest one */
  int active, k;                                 /* an event under way, its class */
  double onset, offset, score;                   /* seconds, seconds, smoothed score */
  int64_t detected;
  int ended;                                     /* an event was reported ... */
  double last_end;                               /* ... its end decided then (seconds) */
} ecl_events;

void ecl_events_init(ecl_events *ev);
/* One window's int8 scores (as the network gives them) and its samples [start, end).
 * Returns the number of events completed (0 or 1), written to *out. */
int ecl_events_window(ecl_events *ev, const int8_t *scores, int64_t start, int64_t end,
                      ecl_event *out);
/* End of the stream after n_samples: closes an event under way. Returns 0 or 1. */
int ecl_events_finish(ecl_events *ev, int64_t n_samples, ecl_event *out);

typedef void (*ecl_event_fn)(const ecl_event *event, void *user);

typedef struct {
  ecl_events events;
  int64_t first_sample;          /* the stream's first sample's position (0 unless set) */
  int64_t n_samples;             /* samples pushed */
  int8_t pending[ECL_N_CLASSES]; /* the last window scored, until its span is decided */
  long pending_index;
  int has_pending, finishing;
  ecl_event_fn on_event;
  ecl_window_fn on_window;  /* every window the library scores, or NULL */
  void *user;
} ecl_listener;

void ecl_listener_init(ecl_listener *ls, ecl_event_fn on_event, ecl_window_fn on_window,
                       void *user);
/* Report event positions from first_sample on instead of 0 (e.g. a running sample clock
 * kept across streams); call it after ecl_listener_init, before any samples. */
void ecl_listener_start_at(ecl_listener *ls, int64_t first_sample);
/* Push samples through the frontend and the network to the events; returns the number of
 * windows completed. */
int ecl_listen_pcm16(ecl_state *st, ecl_listener *ls, const int16_t *pcm, size_t n);
int ecl_listen_float(ecl_state *st, ecl_listener *ls, const float *x, size_t n);
/* End of the stream: scores the tail window, closes an open event, re-initialises both
 * states; returns the clip label as ecl_finish does. */
int ecl_listen_finish(ecl_state *st, ecl_listener *ls);

#endif
