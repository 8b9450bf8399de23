/* embedclf events: the decisions of embedclf.stream.Recognizer over int8 window scores (C99).
 *
 * Every comparison is made on the double-precision values the Recognizer computes: a score
 * is (q - ECL_OUTPUT_ZERO_POINT) * ECL_OUTPUT_SCALE, exact in double; a smoothed score the
 * sum of the span's scores (exact: multiples of 1/256) divided by the span's length; times
 * are sample / ECL_SAMPLE_RATE in seconds. The same operations on the same values round the
 * same, so the decisions are the Recognizer's, threshold ties included. */
#include "embedclf_events.h"

#include <math.h>
#include <string.h>

static double ecl_ev_score(int8_t q) {
  return ((double)q - (double)ECL_OUTPUT_ZERO_POINT) * (double)ECL_OUTPUT_SCALE;
}

/* the part of the stream a window stands for: min(hop, its length) around its centre */
static double span_start(double start, double end) {
  const double len = end - start, half = (ECL_EV_HOP < len ? ECL_EV_HOP : len) / 2;
  return (start + end) / 2 - half;
}

static double span_end(double start, double end) {
  const double len = end - start, half = (ECL_EV_HOP < len ? ECL_EV_HOP : len) / 2;
  return (start + end) / 2 + half;
}

static int64_t to_sample(double seconds) {
  return (int64_t)floor(seconds * ECL_SAMPLE_RATE + 0.5);
}

void ecl_events_init(ecl_events *ev) { memset(ev, 0, sizeof(*ev)); }

/* reports the event under way unless it is shorter than the minimum duration */
static int close_event(ecl_events *ev, double now, int64_t now_sample, ecl_event *out) {
  ev->active = 0;
  if (ev->offset - ev->onset + 1e-9 < ECL_EV_MIN_DURATION) return 0;
  out->label = ev->k;
  out->onset = to_sample(ev->onset);
  out->offset = to_sample(ev->offset);
  out->score = (float)ev->score;
  out->detected = ev->detected;
  out->decided = now_sample;
  ev->ended = 1;
  ev->last_end = now;
  return 1;
}

int ecl_events_window(ecl_events *ev, const int8_t *scores, int64_t start, int64_t end,
                      ecl_event *out) {
  const double ws = (double)start / ECL_SAMPLE_RATE, we = (double)end / ECL_SAMPLE_RATE;
  double smoothed[ECL_N_CLASSES];
  int c, i, slot, k, first = -1, last = -1, done = 0;
  /* the ring holds the last ECL_EV_N_SMOOTH windows, this one included */
  slot = (ev->head + ev->n_recent) % ECL_EV_N_SMOOTH;
  if (ev->n_recent == ECL_EV_N_SMOOTH) {
    slot = ev->head;
    ev->head = (ev->head + 1) % ECL_EV_N_SMOOTH;
  } else {
    ev->n_recent++;
  }
  memcpy(ev->recent[slot], scores, ECL_N_CLASSES);
  ev->recent_start[slot] = ws;
  ev->recent_end[slot] = we;
  for (c = 0; c < ECL_N_CLASSES; ++c) {
    long sum = 0;
    for (i = 0; i < ev->n_recent; ++i)
      sum += (long)ev->recent[(ev->head + i) % ECL_EV_N_SMOOTH][c] - ECL_OUTPUT_ZERO_POINT;
    smoothed[c] = (double)sum * (double)ECL_OUTPUT_SCALE / (double)ev->n_recent;
  }
  if (ev->active) {
    k = ev->k;
    if (smoothed[k] >= ECL_EV_THRESHOLD_OFF) { /* hysteresis: the event goes on */
      if (smoothed[k] > ev->score) ev->score = smoothed[k];
      if (ecl_ev_score(scores[k]) >= ECL_EV_THRESHOLD_OFF) ev->offset = span_end(ws, we);
      return 0;
    }
    done = close_event(ev, we, end, out);
  }
  k = 0;
  for (c = 1; c < ECL_N_CLASSES; ++c) if (smoothed[c] > smoothed[k]) k = c;
  if (ecl_ev_background[k] || smoothed[k] < ECL_EV_THRESHOLD ||
      (ev->ended && we < ev->last_end + ECL_EV_SUPPRESSION))
    return done;
  /* onset and offset: the first and last window of the span whose own score is high */
  for (i = 0; i < ev->n_recent; ++i) {
    const int s = (ev->head + i) % ECL_EV_N_SMOOTH;
    if (ecl_ev_score(ev->recent[s][k]) >= ECL_EV_THRESHOLD_OFF) {
      if (first < 0) first = s;
      last = s;
    }
  }
  if (first < 0) first = last = slot;
  ev->active = 1;
  ev->k = k;
  ev->onset = span_start(ev->recent_start[first], ev->recent_end[first]);
  ev->offset = span_end(ev->recent_start[last], ev->recent_end[last]);
  ev->score = smoothed[k];
  ev->detected = end;
  return done;
}

int ecl_events_finish(ecl_events *ev, int64_t n_samples, ecl_event *out) {
  if (!ev->active) return 0;
  return close_event(ev, (double)n_samples / ECL_SAMPLE_RATE, n_samples, out);
}

void ecl_listener_init(ecl_listener *ls, ecl_event_fn on_event, ecl_window_fn on_window,
                       void *user) {
  memset(ls, 0, sizeof(*ls));
  ecl_events_init(&ls->events);
  ls->on_event = on_event;
  ls->on_window = on_window;
  ls->user = user;
}

void ecl_listener_start_at(ecl_listener *ls, int64_t first_sample) {
  ls->first_sample = first_sample;
}

/* The pending window's samples [index * hop, + window), as the Recognizer cuts the stream,
 * to the events. At the end of the stream, a window past it is the tail, cut there; the
 * library's windows are aligned on frames, so it may score one tail window the Recognizer
 * does not (a stream ending exactly where a full window does): that one is left out. */
static void decide_pending(ecl_listener *ls, int at_end) {
  const int64_t start = (int64_t)ls->pending_index * ECL_EV_HOP_SAMPLES, n = ls->n_samples;
  int64_t end = start + ECL_EV_WINDOW_SAMPLES;
  ecl_event event;
  ls->has_pending = 0;
  if (at_end && end > n) {
    if (start >= n || (start > 0 && start - ECL_EV_HOP_SAMPLES + ECL_EV_WINDOW_SAMPLES >= n))
      return;
    end = n;
  }
  if (ecl_events_window(&ls->events, ls->pending, ls->first_sample + start,
                        ls->first_sample + end, &event) &&
      ls->on_event)
    ls->on_event(&event, ls->user);
}

/* A window is complete n_fft / 2 samples before its Recognizer span ends: it waits until
 * the stream reaches that end (or ends first, making it the tail). */
static void listen_window(long index, const int8_t *scores, void *user) {
  ecl_listener *ls = (ecl_listener *)user;
  if (ls->on_window) ls->on_window(index, scores, ls->user);
  if (ls->has_pending) decide_pending(ls, ls->finishing);
  memcpy(ls->pending, scores, ECL_N_CLASSES);
  ls->pending_index = index;
  ls->has_pending = 1;
}

static void decide_reached(ecl_listener *ls) {
  if (ls->has_pending &&
      (int64_t)ls->pending_index * ECL_EV_HOP_SAMPLES + ECL_EV_WINDOW_SAMPLES <= ls->n_samples)
    decide_pending(ls, 0);
}

/* in pieces of at most a hop: a window is decided as soon as the stream reaches its end */
static int listen(ecl_state *st, ecl_listener *ls, const int16_t *pcm, const float *x,
                  size_t n) {
  size_t i, piece;
  int done = 0;
  for (i = 0; i < n; i += piece) {
    piece = n - i < (size_t)ECL_EV_HOP_SAMPLES ? n - i : (size_t)ECL_EV_HOP_SAMPLES;
    done += pcm ? ecl_push_pcm16(st, pcm + i, piece, listen_window, ls)
                : ecl_push_float(st, x + i, piece, listen_window, ls);
    ls->n_samples += (int64_t)piece;
    decide_reached(ls);
  }
  return done;
}

int ecl_listen_pcm16(ecl_state *st, ecl_listener *ls, const int16_t *pcm, size_t n) {
  return listen(st, ls, pcm, NULL, n);
}

int ecl_listen_float(ecl_state *st, ecl_listener *ls, const float *x, size_t n) {
  return listen(st, ls, NULL, x, n);
}

int ecl_listen_finish(ecl_state *st, ecl_listener *ls) {
  ecl_event event;
  int label;
  ls->finishing = 1;
  label = ecl_finish(st, listen_window, ls);
  if (ls->has_pending) decide_pending(ls, 1);
  if (ecl_events_finish(&ls->events, ls->first_sample + ls->n_samples, &event) && ls->on_event)
    ls->on_event(&event, ls->user);
  ecl_listener_init(ls, ls->on_event, ls->on_window, ls->user);
  return label;
}
