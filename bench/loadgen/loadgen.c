// loadgen: the native load generator of chatwire's benchmarks (bench/run.mjs).
//
// One single-threaded epoll process holding N WebSocket client connections on
// loopback, speaking the chat protocol subset every bench server implements
// (PROTOCOL.md: connect -> connect_confirm, message -> confirm{seq} ->
// response{seq}, ping -> pong). A hand-written RFC 6455 client (masked text
// frames, server ping/close handled) keeps the generator's own cost to a few
// syscalls per frame, so it is not the bottleneck; it measures its own CPU
// (getrusage) and the server's (/proc/<pid>/stat) over the same window.
//
// --proto sio wraps the same JSON in Socket.IO v5 / Engine.IO v4 framing
// (open "0{..}", connect "40", events 42["m",<json>], ping "2" -> pong "3").
//
// Modes (--mode):
//   turn   all connections confirmed, then each runs turns back to back (one
//          in flight); after --warmup-ms, counts turns and latencies (message
//          sent -> response received) for --duration-ms. A turn may stream
//          `delta` frames before its response (the streamed scenario):
//          --deltas N is how many each turn must carry, indexed 0..N-1 and
//          answering the message in flight (default 0); any other count is
//          an error (errors.deltaCount / errors.deltaOrder).
//   idle   connects N (at most --concurrency handshakes at once), measures the
//          connect rate, then holds them for --hold-ms with a ping every
//          --ping-ms per connection; samples the server's RSS before and after.
//   storm  connects N, each runs one turn, prints READY; on "SEND" (stdin) each
//          sends one more message (the orchestrator then kills and restarts
//          the server). A lost connection follows the client's reconnect rules
//          (PROTOCOL.md, client_engine.cc): attempt k after
//          max(5000, [5000,10000,20000][k-1] * (1 + jitter*u)) ms, at most 3
//          attempts; a try fails on refusal, a non-101 answer, a close before
//          connect_confirm, or no confirm in 30 s. A reconnect sends connect
//          with conversationId + lastSeq, then resends its outbox (messages not
//          confirmed) in order. A client is recovered when it is confirmed
//          (resumed), its outbox is empty, every message has an outcome
//          (response or error) and the seq it has seen are gap-free. Events
//          lost = seq gaps + messages without an outcome when the run ends.
//
// Output: one JSON object on stdout at the end (progress on stderr; READY on
// stdout in storm mode).
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT 24
#endif

enum { MODE_TURN, MODE_IDLE, MODE_STORM };
enum { PROTO_CW, PROTO_SIO };
enum {
  C_NONE,        // no socket (not started, waiting to retry, or failed)
  C_TCP,         // TCP connect in progress
  C_HTTP,        // upgrade request sent
  C_SIO_OPEN,    // waiting for Engine.IO open "0{...}"
  C_SIO_CONNECT, // waiting for Socket.IO connect "40..."
  C_CONFIRM,     // connect sent, waiting for connect_confirm
  C_OPEN,        // confirmed
};
enum { T_PING = 1, T_RETRY, T_HS_TIMEOUT };

#define MAX_MSGS 8

typedef struct {
  char *p;
  size_t len, cap;
} buf_t;

typedef struct {
  char id[40];
  int confirmed;
  int outcome;  // 0 none, 1 response, 2 error
} msg_t;

typedef struct conn {
  int idx, fd, state;
  buf_t in, out;
  buf_t frag;  // a fragmented message being assembled
  int want_out;
  char client_id[40];
  char conv_id[64];
  int64_t hs_start_ns, hs_deadline_ns, next_ping_ns, retry_ns;
  // turn mode
  int64_t sent_ns;
  uint64_t counter;
  int64_t last_seq_seen;
  char cur_id[40];
  int64_t deltas_seen;  // deltas of the turn in flight
  // storm mode
  msg_t msgs[MAX_MSGS];
  int nmsgs;
  uint64_t seen;  // bit s = seq s seen (s < 64)
  int64_t max_seq;
  int attempt;    // attempts used in this outage
  int64_t lost_ns, recovered_ns;
  int in_outage, failed, resumed_false, recovered_false, was_open_before;
} conn_t;

// ---------------------------------------------------------------- options

static int mode = MODE_TURN, proto = PROTO_CW;
static const char *host = "127.0.0.1";
static int port = 0;
static const char *path = "/ws/chat";
static int nconns = 100, concurrency = 256, payload = 256, src_ips = 1;
static int64_t warmup_ms = 2000, duration_ms = 5000, hold_ms = 15000, ping_ms = 10000, storm_timeout_ms = 60000;
static double jitter = 0;
static int64_t expect_deltas = 0;
static int server_pid = 0;
static int verbose = 0;

// ---------------------------------------------------------------- state

static int ep;
static conn_t *conns;
static char run_tag[16];
static uint64_t rng_state = 88172645463325252ull;
static int64_t t_begin_ns;

static struct {
  int64_t connect_errors, http_errors, closes_before_confirm, hs_timeouts, unexpected_closes;
  int64_t confirmed_total, confirms, responses, errors, pongs, pings_sent, seq_order_errors;
  int64_t bad_frames, resumed_false, recovered_false, failed_clients, abandoned;
  int64_t deltas, delta_order_errors, delta_count_errors;
  int64_t handshakes_ok;
} st;

static void die(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fprintf(stderr, "loadgen: ");
  vfprintf(stderr, fmt, ap);
  fprintf(stderr, "\n");
  va_end(ap);
  exit(2);
}

static void logf_(const char *fmt, ...) {
  if (!verbose) return;
  va_list ap;
  va_start(ap, fmt);
  fprintf(stderr, "loadgen: ");
  vfprintf(stderr, fmt, ap);
  fprintf(stderr, "\n");
  va_end(ap);
}

static int64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000ll + ts.tv_nsec;
}

static uint64_t rnd(void) {
  uint64_t x = rng_state;
  x ^= x << 13;
  x ^= x >> 7;
  x ^= x << 17;
  return rng_state = x;
}

static double rnd_unit(void) { return (double)(rnd() >> 11) / 9007199254740992.0; }

// ---------------------------------------------------------------- buffers

static void buf_reserve(buf_t *b, size_t extra) {
  if (b->len + extra <= b->cap) return;
  size_t cap = b->cap ? b->cap : 512;
  while (cap < b->len + extra) cap *= 2;
  b->p = realloc(b->p, cap);
  if (!b->p) die("out of memory");
  b->cap = cap;
}

static void buf_append(buf_t *b, const void *p, size_t n) {
  buf_reserve(b, n);
  memcpy(b->p + b->len, p, n);
  b->len += n;
}

static void buf_consume(buf_t *b, size_t n) {
  if (n >= b->len) {
    b->len = 0;
    return;
  }
  memmove(b->p, b->p + n, b->len - n);
  b->len -= n;
}

// ---------------------------------------------------------------- timers (binary heap)

typedef struct {
  int64_t at;
  int conn, kind;
} timer_t_;

static timer_t_ *heap;
static size_t heap_n, heap_cap;

static void timer_add(int64_t at, int conn, int kind) {
  if (heap_n == heap_cap) {
    heap_cap = heap_cap ? heap_cap * 2 : 1024;
    heap = realloc(heap, heap_cap * sizeof *heap);
  }
  size_t i = heap_n++;
  heap[i] = (timer_t_){at, conn, kind};
  while (i > 0) {
    size_t p = (i - 1) / 2;
    if (heap[p].at <= heap[i].at) break;
    timer_t_ t = heap[p];
    heap[p] = heap[i];
    heap[i] = t;
    i = p;
  }
}

static timer_t_ timer_pop(void) {
  timer_t_ top = heap[0];
  heap[0] = heap[--heap_n];
  size_t i = 0;
  for (;;) {
    size_t l = 2 * i + 1, r = l + 1, m = i;
    if (l < heap_n && heap[l].at < heap[m].at) m = l;
    if (r < heap_n && heap[r].at < heap[m].at) m = r;
    if (m == i) break;
    timer_t_ t = heap[m];
    heap[m] = heap[i];
    heap[i] = t;
    i = m;
  }
  return top;
}

// ---------------------------------------------------------------- /proc of the server

typedef struct {
  double cpu_s;
  long rss_kb, hwm_kb;
} proc_sample_t;

static proc_sample_t sample_server(void) {
  proc_sample_t s = {0, 0, 0};
  if (!server_pid) return s;
  char pathbuf[64], data[4096];
  snprintf(pathbuf, sizeof pathbuf, "/proc/%d/stat", server_pid);
  FILE *f = fopen(pathbuf, "r");
  if (f) {
    size_t n = fread(data, 1, sizeof data - 1, f);
    data[n] = 0;
    fclose(f);
    char *p = strrchr(data, ')');
    if (p) {
      // fields after ") ": state(3) ... utime(14) stime(15)
      unsigned long ut = 0, stt = 0;
      int field = 2;
      char *tok = p + 2;
      while (*tok && field < 15) {
        field++;
        if (field == 14) ut = strtoul(tok, NULL, 10);
        if (field == 15) stt = strtoul(tok, NULL, 10);
        char *sp = strchr(tok, ' ');
        if (!sp) break;
        tok = sp + 1;
      }
      s.cpu_s = (double)(ut + stt) / (double)sysconf(_SC_CLK_TCK);
    }
  }
  snprintf(pathbuf, sizeof pathbuf, "/proc/%d/status", server_pid);
  f = fopen(pathbuf, "r");
  if (f) {
    char line[256];
    while (fgets(line, sizeof line, f)) {
      if (!strncmp(line, "VmRSS:", 6)) s.rss_kb = strtol(line + 6, NULL, 10);
      if (!strncmp(line, "VmHWM:", 6)) s.hwm_kb = strtol(line + 6, NULL, 10);
    }
    fclose(f);
  }
  return s;
}

static double self_cpu_s(void) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
}

// ---------------------------------------------------------------- tiny JSON field readers
// Server frames are compact JSON written by an encoder (no spaces); the ids we
// read hold no escapes. Enough for the fields this client needs.

static const char *jfind(const char *p, size_t n, const char *key, size_t *rest) {
  char pat[48];
  int k = snprintf(pat, sizeof pat, "\"%s\":", key);
  const char *hit = memmem(p, n, pat, (size_t)k);
  if (!hit) return NULL;
  hit += k;
  *rest = n - (size_t)(hit - p);
  return hit;
}

static int jstr(const char *p, size_t n, const char *key, const char **out, size_t *outlen) {
  size_t rest;
  const char *v = jfind(p, n, key, &rest);
  if (!v || rest < 2 || *v != '"') return 0;
  const char *end = memchr(v + 1, '"', rest - 1);
  if (!end) return 0;
  *out = v + 1;
  *outlen = (size_t)(end - v - 1);
  return 1;
}

static int jint(const char *p, size_t n, const char *key, int64_t *out) {
  size_t rest;
  const char *v = jfind(p, n, key, &rest);
  if (!v || rest < 1 || *v < '0' || *v > '9') return 0;
  int64_t x = 0;
  while (rest && *v >= '0' && *v <= '9') {
    x = x * 10 + (*v - '0');
    v++;
    rest--;
  }
  *out = x;
  return 1;
}

static int jbool(const char *p, size_t n, const char *key, int *out) {
  size_t rest;
  const char *v = jfind(p, n, key, &rest);
  if (!v) return 0;
  if (rest >= 4 && !memcmp(v, "true", 4)) *out = 1;
  else if (rest >= 5 && !memcmp(v, "false", 5)) *out = 0;
  else return 0;
  return 1;
}

static int jtype_is(const char *t, size_t tl, const char *want) {
  size_t wl = strlen(want);
  return tl == wl && !memcmp(t, want, wl);
}

// ---------------------------------------------------------------- sockets and frames

static void conn_close(conn_t *c, const char *why);

static void set_events(conn_t *c) {
  struct epoll_event ev = {0};
  ev.events = EPOLLIN | (c->want_out ? EPOLLOUT : 0);
  ev.data.ptr = c;
  epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
}

static int flush_out(conn_t *c) {
  while (c->out.len) {
    ssize_t w = send(c->fd, c->out.p, c->out.len, MSG_NOSIGNAL);
    if (w > 0) {
      buf_consume(&c->out, (size_t)w);
      continue;
    }
    if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      if (!c->want_out) {
        c->want_out = 1;
        set_events(c);
      }
      return 0;
    }
    if (w < 0 && errno == EINTR) continue;
    conn_close(c, "send failed");
    return -1;
  }
  if (c->want_out) {
    c->want_out = 0;
    set_events(c);
  }
  return 0;
}

// Appends one masked client frame (opcode op) with the payload to c->out.
static void put_frame(conn_t *c, int op, const char *a, size_t an, const char *b, size_t bn, const char *z,
                      size_t zn) {
  size_t n = an + bn + zn;
  unsigned char h[14];
  size_t hl = 0;
  h[hl++] = (unsigned char)(0x80 | op);
  if (n < 126) {
    h[hl++] = (unsigned char)(0x80 | n);
  } else if (n < 65536) {
    h[hl++] = 0x80 | 126;
    h[hl++] = (unsigned char)(n >> 8);
    h[hl++] = (unsigned char)n;
  } else {
    h[hl++] = 0x80 | 127;
    for (int i = 7; i >= 0; --i) h[hl++] = (unsigned char)((uint64_t)n >> (8 * i));
  }
  uint32_t key = (uint32_t)rnd();
  unsigned char mk[4];
  memcpy(mk, &key, 4);
  memcpy(h + hl, mk, 4);
  hl += 4;
  buf_reserve(&c->out, hl + n);
  memcpy(c->out.p + c->out.len, h, hl);
  unsigned char *dst = (unsigned char *)c->out.p + c->out.len + hl;
  size_t k = 0;
  for (size_t i = 0; i < an; ++i, ++k) dst[k] = (unsigned char)a[i] ^ mk[k & 3];
  for (size_t i = 0; i < bn; ++i, ++k) dst[k] = (unsigned char)b[i] ^ mk[k & 3];
  for (size_t i = 0; i < zn; ++i, ++k) dst[k] = (unsigned char)z[i] ^ mk[k & 3];
  c->out.len += hl + n;
}

// Sends one protocol JSON frame (wrapped for Socket.IO).
static void send_json(conn_t *c, const char *json, size_t n) {
  if (proto == PROTO_SIO) {
    static const char pre[] = "42[\"m\",";
    put_frame(c, 1, pre, sizeof pre - 1, json, n, "]", 1);
  } else {
    put_frame(c, 1, json, n, NULL, 0, NULL, 0);
  }
  flush_out(c);
}

static void send_raw_text(conn_t *c, const char *s) {
  put_frame(c, 1, s, strlen(s), NULL, 0, NULL, 0);
  flush_out(c);
}

static const char *kTimestamp = "2026-11-24T12:00:00.000Z";

static void make_uuid(char out[40], uint32_t a, uint32_t b, uint64_t c) {
  snprintf(out, 40, "%08x-%04x-4%03x-8%03x-%012llx", a, (b >> 12) & 0xffff, b & 0xfff,
           (unsigned)((c >> 48) & 0xfff), (unsigned long long)(c & 0xffffffffffffull));
}

static void send_connect(conn_t *c) {
  char buf[512];
  int n;
  if (c->conv_id[0]) {
    int64_t last = 0;
    while (last + 1 < 64 && (c->seen >> (last + 1) & 1)) last++;
    n = snprintf(buf, sizeof buf,
                 "{\"type\":\"connect\",\"clientId\":\"%s\",\"timestamp\":\"%s\",\"conversationId\":\"%s\","
                 "\"lastSeq\":%lld}",
                 c->client_id, kTimestamp, c->conv_id, (long long)last);
  } else {
    n = snprintf(buf, sizeof buf, "{\"type\":\"connect\",\"clientId\":\"%s\",\"timestamp\":\"%s\"}", c->client_id,
                 kTimestamp);
  }
  send_json(c, buf, (size_t)n);
}

static char *msg_template;
static size_t msg_len;
static size_t msg_id_off, msg_client_off;

static void build_template(void) {
  const char *head = "{\"type\":\"message\",\"messageId\":\"";
  const char *mid = "\",\"clientId\":\"";
  char tail[128];
  snprintf(tail, sizeof tail, "\",\"timestamp\":\"%s\",\"content\":\"", kTimestamp);
  size_t fixed = strlen(head) + 36 + strlen(mid) + 36 + strlen(tail) + 2;
  size_t content = (size_t)payload > fixed ? (size_t)payload - fixed : 1;
  msg_len = fixed + content;
  msg_template = malloc(msg_len + 1);
  char *p = msg_template;
  p += sprintf(p, "%s", head);
  msg_id_off = (size_t)(p - msg_template);
  memset(p, '0', 36);
  p += 36;
  p += sprintf(p, "%s", mid);
  msg_client_off = (size_t)(p - msg_template);
  memset(p, '0', 36);
  p += 36;
  p += sprintf(p, "%s", tail);
  for (size_t i = 0; i < content; ++i) *p++ = (char)('a' + i % 26);
  *p++ = '"';
  *p++ = '}';
  *p = 0;
}

static void send_message(conn_t *c, const char *id) {
  memcpy(msg_template + msg_id_off, id, 36);
  memcpy(msg_template + msg_client_off, c->client_id, 36);
  send_json(c, msg_template, msg_len);
}

static void send_ping(conn_t *c) {
  char buf[256];
  int n = snprintf(buf, sizeof buf, "{\"type\":\"ping\",\"clientId\":\"%s\",\"timestamp\":\"%s\"}", c->client_id,
                   kTimestamp);
  send_json(c, buf, (size_t)n);
  st.pings_sent++;
}

// ---------------------------------------------------------------- modes: shared state

static int connected_count;      // confirmed at least once (turn/idle/storm phase 1)
static int started_count;        // connection attempts started in the initial ramp
static int inflight_handshakes;  // initial ramp only
static int64_t t_first_connect_ns, t_all_connected_ns;

// turn mode window
static int64_t win_start_ns, win_end_ns, kick_ns;
static int in_window;
static uint32_t *lat_us;
static size_t lat_n, lat_cap;
static int64_t turns_in_window, errors_in_window, deltas_in_window;
static proc_sample_t srv_a, srv_b;
static double gen_cpu_a, gen_cpu_b;

// storm
static int storm_phase;  // 0 connecting, 1 turn 1 running, 2 ready, 3 second message sent
static int storm_turn1_done;
static int64_t storm_first_loss_ns;
static int storm_lost_count, storm_recovered_count;
static int64_t *storm_rec_ms;
static size_t storm_rec_n;
#define HS_BUCKET_MS 100
static int64_t hs_buckets[4096];  // handshake completions per 100 ms since t_begin

static void start_conn(conn_t *c);

static int64_t retry_delay_ms(int attempt) {
  static const int64_t delays[] = {5000, 10000, 20000};
  int64_t d = delays[attempt - 1 < 2 ? attempt - 1 : 2];
  if (jitter > 0) d += (int64_t)((double)d * jitter * rnd_unit());
  return d < 5000 ? 5000 : d;
}

static int storm_is_recovered(conn_t *c) {
  if (c->state != C_OPEN) return 0;
  for (int i = 0; i < c->nmsgs; ++i) {
    if (!c->msgs[i].confirmed && c->msgs[i].outcome != 2) return 0;
    if (!c->msgs[i].outcome) return 0;
  }
  for (int64_t s = 1; s <= c->max_seq && s < 64; ++s) {
    if (!(c->seen >> s & 1)) return 0;
  }
  return 1;
}

static void storm_check(conn_t *c) {
  if (!c->in_outage || c->recovered_ns) return;
  if (!storm_is_recovered(c)) return;
  c->recovered_ns = now_ns();
  c->in_outage = 0;
  storm_recovered_count++;
  int64_t ms = (c->recovered_ns - c->lost_ns) / 1000000;
  storm_rec_ms[storm_rec_n++] = ms;
}

// A socket ended. Decides what the client does next (mode rules).
static void on_socket_gone(conn_t *c, int prev_state, const char *why) {
  int64_t t = now_ns();
  if (mode != MODE_STORM) {
    if (prev_state == C_OPEN) st.unexpected_closes++;
    else if (prev_state != C_NONE) st.closes_before_confirm++;
    logf_("conn %d closed (%s)", c->idx, why);
    if (prev_state != C_OPEN && prev_state != C_NONE && inflight_handshakes > 0) inflight_handshakes--;
    return;
  }
  if (prev_state == C_OPEN) {
    // a loss: an outage starts
    if (!storm_first_loss_ns) storm_first_loss_ns = t;
    c->in_outage = 1;
    c->lost_ns = t;
    c->recovered_ns = 0;
    c->was_open_before = 1;
    storm_lost_count++;
    c->attempt = 1;
  } else {
    if (!c->was_open_before) {
      // still in the initial ramp: count as a failed handshake, retry at once
      if (inflight_handshakes > 0) inflight_handshakes--;
      st.closes_before_confirm++;
      c->retry_ns = t + 200000000ll;
      timer_add(c->retry_ns, c->idx, T_RETRY);
      return;
    }
    c->attempt++;
    if (c->attempt > 3) {
      c->failed = 1;
      st.failed_clients++;
      return;
    }
  }
  c->retry_ns = t + retry_delay_ms(c->attempt) * 1000000ll;
  timer_add(c->retry_ns, c->idx, T_RETRY);
}

static void conn_close(conn_t *c, const char *why) {
  if (c->fd < 0) return;
  int prev = c->state;
  close(c->fd);
  c->fd = -1;
  c->state = C_NONE;
  c->want_out = 0;
  c->in.len = c->out.len = c->frag.len = 0;
  on_socket_gone(c, prev, why);
}

static void handshake_failed(conn_t *c, int64_t *counter, const char *why) {
  (*counter)++;
  conn_close(c, why);
}

// ---------------------------------------------------------------- protocol events

static void turn_send_next(conn_t *c) {
  c->counter++;
  c->deltas_seen = 0;
  make_uuid(c->cur_id, (uint32_t)c->idx, (uint32_t)(c->counter & 0xffffffff), (uint64_t)rnd());
  c->sent_ns = now_ns();
  send_message(c, c->cur_id);
}

static void storm_send_new(conn_t *c) {
  if (c->nmsgs >= MAX_MSGS) return;
  msg_t *m = &c->msgs[c->nmsgs++];
  memset(m, 0, sizeof *m);
  make_uuid(m->id, (uint32_t)c->idx, (uint32_t)c->nmsgs, (uint64_t)rnd());
  if (c->state == C_OPEN) send_message(c, m->id);
}

static msg_t *storm_find(conn_t *c, const char *id, size_t n) {
  if (n != 36) return NULL;
  for (int i = 0; i < c->nmsgs; ++i) {
    if (!memcmp(c->msgs[i].id, id, 36)) return &c->msgs[i];
  }
  return NULL;
}

static void on_confirmed(conn_t *c, const char *p, size_t n) {
  int64_t t = now_ns();
  int first = !c->was_open_before && c->state != C_OPEN;
  c->state = C_OPEN;
  st.confirmed_total++;
  int idx = (int)((t - t_begin_ns) / 1000000 / HS_BUCKET_MS);
  if (idx >= 0 && idx < 4096) hs_buckets[idx]++;
  const char *cid;
  size_t cl;
  if (jstr(p, n, "conversationId", &cid, &cl) && cl < sizeof c->conv_id) {
    if (mode == MODE_STORM && c->conv_id[0] && (strlen(c->conv_id) != cl || memcmp(c->conv_id, cid, cl))) {
      // a new conversation: the old one's events are gone for this client
      st.resumed_false++;
    }
    memcpy(c->conv_id, cid, cl);
    c->conv_id[cl] = 0;
  }
  if (ping_ms > 0 && mode != MODE_TURN) {
    c->next_ping_ns = t + (first ? (int64_t)(rnd_unit() * (double)ping_ms) : ping_ms) * 1000000ll;
    timer_add(c->next_ping_ns, c->idx, T_PING);
  }
  if (first || !c->was_open_before) {
    if (inflight_handshakes > 0) inflight_handshakes--;
    connected_count++;
    if (connected_count == nconns) t_all_connected_ns = t;
  }
  if (mode == MODE_STORM) {
    if (c->was_open_before) {
      int resumed = 0, recovered = 0;
      jbool(p, n, "resumed", &resumed);
      jbool(p, n, "recovered", &recovered);
      if (!resumed) c->resumed_false = 1, st.resumed_false++;
      if (!recovered) c->recovered_false = 1, st.recovered_false++;
      c->attempt = 0;
      // resend the outbox in order
      for (int i = 0; i < c->nmsgs; ++i) {
        if (!c->msgs[i].confirmed && !c->msgs[i].outcome) send_message(c, c->msgs[i].id);
      }
      storm_check(c);
    } else if (storm_phase >= 1) {
      storm_send_new(c);
    }
  }
}

static void on_seq(conn_t *c, int64_t seq) {
  if (mode == MODE_STORM) {
    if (seq > 0 && seq < 64) c->seen |= 1ull << seq;
    if (seq > c->max_seq) c->max_seq = seq;
    return;
  }
  if (seq <= c->last_seq_seen) st.seq_order_errors++;
  c->last_seq_seen = seq;
}

static void on_json(conn_t *c, const char *p, size_t n) {
  const char *type;
  size_t tl;
  if (!jstr(p, n, "type", &type, &tl)) {
    st.bad_frames++;
    return;
  }
  int64_t seq = -1;
  if (jtype_is(type, tl, "connect_confirm")) {
    if (c->state != C_CONFIRM) {
      st.bad_frames++;
      return;
    }
    on_confirmed(c, p, n);
    return;
  }
  if (jtype_is(type, tl, "pong")) {
    st.pongs++;
    return;
  }
  if (jtype_is(type, tl, "typing")) return;
  const char *id = NULL;
  size_t idl = 0;
  if (jtype_is(type, tl, "delta")) {
    st.deltas++;
    if (mode != MODE_TURN) return;
    int64_t index = -1;
    if (!jint(p, n, "index", &index) || index != c->deltas_seen || !jstr(p, n, "replyTo", &id, &idl) || idl != 36 ||
        memcmp(id, c->cur_id, 36)) {
      st.delta_order_errors++;
      if (verbose) fprintf(stderr, "loadgen: delta out of order: %.*s\n", (int)n, p);
    }
    c->deltas_seen++;
    if (in_window) deltas_in_window++;
    return;
  }
  if (jtype_is(type, tl, "confirm")) {
    st.confirms++;
    if (jint(p, n, "seq", &seq)) on_seq(c, seq);
    if (mode == MODE_STORM && jstr(p, n, "messageId", &id, &idl)) {
      msg_t *m = storm_find(c, id, idl);
      if (m) m->confirmed = 1;
      storm_check(c);
    }
    return;
  }
  if (jtype_is(type, tl, "response") || jtype_is(type, tl, "error")) {
    int is_err = type[0] == 'e';
    if (is_err) st.errors++;
    else st.responses++;
    if (jint(p, n, "seq", &seq)) on_seq(c, seq);
    const char *key = is_err ? "messageId" : "replyTo";
    if (!jstr(p, n, key, &id, &idl)) {
      if (is_err && verbose) fprintf(stderr, "loadgen: error frame: %.*s\n", (int)n, p);
      return;
    }
    if (mode == MODE_TURN) {
      if (idl == 36 && !memcmp(id, c->cur_id, 36)) {
        int64_t t = now_ns();
        if (!is_err && c->deltas_seen != expect_deltas) {
          st.delta_count_errors++;
          if (verbose) fprintf(stderr, "loadgen: %lld deltas before the response, want %lld\n",
                               (long long)c->deltas_seen, (long long)expect_deltas);
        }
        if (in_window && t <= win_end_ns) {
          if (is_err) {
            errors_in_window++;
          } else {
            turns_in_window++;
            if (lat_n == lat_cap) {
              lat_cap = lat_cap ? lat_cap * 2 : 65536;
              lat_us = realloc(lat_us, lat_cap * sizeof *lat_us);
            }
            lat_us[lat_n++] = (uint32_t)((t - c->sent_ns) / 1000);
          }
        }
        if (is_err && verbose) fprintf(stderr, "loadgen: error: %.*s\n", (int)n, p);
        turn_send_next(c);
      }
      return;
    }
    if (mode == MODE_STORM) {
      msg_t *m = storm_find(c, id, idl);
      if (m) {
        if (is_err) {
          if (!m->outcome) m->outcome = 2, st.abandoned++;
        } else {
          m->outcome = 1;
        }
        if (!m->confirmed && !is_err) m->confirmed = 1;
      }
      if (storm_phase == 1 && !c->was_open_before && m == &c->msgs[0] && m->outcome) storm_turn1_done++;
      storm_check(c);
    }
    return;
  }
  st.bad_frames++;
}

static void on_text(conn_t *c, const char *p, size_t n) {
  if (proto == PROTO_SIO) {
    if (c->state == C_SIO_OPEN) {
      if (n && p[0] == '0') {
        c->state = C_SIO_CONNECT;
        send_raw_text(c, "40");
      }
      return;
    }
    if (c->state == C_SIO_CONNECT) {
      if (n >= 2 && p[0] == '4' && p[1] == '0') {
        c->state = C_CONFIRM;
        send_connect(c);
      }
      return;
    }
    if (n == 1 && p[0] == '2') {
      send_raw_text(c, "3");
      return;
    }
    if (n > 8 && !memcmp(p, "42[\"m\",", 7)) {
      on_json(c, p + 7, n - 8);
      return;
    }
    return;
  }
  on_json(c, p, n);
}

// Parses complete frames from c->in. Returns -1 if the connection was closed.
static int parse_frames(conn_t *c) {
  size_t off = 0;
  unsigned char *b = (unsigned char *)c->in.p;
  while (c->in.len - off >= 2) {
    unsigned char *h = b + off;
    int fin = h[0] & 0x80, op = h[0] & 0x0f;
    uint64_t len = h[1] & 0x7f;
    size_t hl = 2;
    if (h[1] & 0x80) {
      conn_close(c, "masked server frame");
      return -1;
    }
    if (len == 126) {
      if (c->in.len - off < 4) break;
      len = ((uint64_t)h[2] << 8) | h[3];
      hl = 4;
    } else if (len == 127) {
      if (c->in.len - off < 10) break;
      len = 0;
      for (int i = 0; i < 8; ++i) len = (len << 8) | h[2 + i];
      hl = 10;
    }
    if (c->in.len - off < hl + len) break;
    const char *pl = (const char *)h + hl;
    off += hl + len;
    switch (op) {
      case 0x0:  // continuation
      case 0x1:
      case 0x2:
        if (!fin || c->frag.len) {
          buf_append(&c->frag, pl, len);
          if (fin) {
            on_text(c, c->frag.p, c->frag.len);
            if (c->fd < 0) return -1;
            c->frag.len = 0;
          }
        } else {
          on_text(c, pl, len);
          if (c->fd < 0) return -1;
        }
        break;
      case 0x8:
        conn_close(c, "close frame");
        return -1;
      case 0x9:
        put_frame(c, 0xA, pl, len, NULL, 0, NULL, 0);
        if (flush_out(c) < 0) return -1;
        break;
      default:
        break;
    }
  }
  buf_consume(&c->in, off);
  return 0;
}

static const char kAccept[] = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";

static int on_http(conn_t *c) {
  const char *end = memmem(c->in.p, c->in.len, "\r\n\r\n", 4);
  if (!end) {
    if (c->in.len > 16384) handshake_failed(c, &st.http_errors, "huge http answer");
    return c->fd < 0 ? -1 : 0;
  }
  size_t hl = (size_t)(end - c->in.p) + 4;
  if (c->in.len < 12 || memcmp(c->in.p, "HTTP/1.1 101", 12) || !memmem(c->in.p, hl, kAccept, sizeof kAccept - 1)) {
    if (verbose) fprintf(stderr, "loadgen: handshake refused: %.*s\n", (int)(hl > 80 ? 80 : hl), c->in.p);
    handshake_failed(c, &st.http_errors, "handshake refused");
    return -1;
  }
  buf_consume(&c->in, hl);
  st.handshakes_ok++;
  if (proto == PROTO_SIO) {
    c->state = C_SIO_OPEN;
  } else {
    c->state = C_CONFIRM;
    send_connect(c);
    if (c->fd < 0) return -1;
  }
  return parse_frames(c);
}

static void on_readable(conn_t *c) {
  for (;;) {
    buf_reserve(&c->in, 65536);
    ssize_t r = recv(c->fd, c->in.p + c->in.len, c->in.cap - c->in.len, 0);
    if (r > 0) {
      c->in.len += (size_t)r;
      if ((size_t)r < c->in.cap - c->in.len + (size_t)r) break;  // drained
      continue;
    }
    if (r == 0) {
      conn_close(c, "eof");
      return;
    }
    if (errno == EAGAIN || errno == EWOULDBLOCK) break;
    if (errno == EINTR) continue;
    if (c->state == C_TCP) st.connect_errors++;
    conn_close(c, "recv error");
    return;
  }
  if (c->state == C_HTTP) {
    on_http(c);
    return;
  }
  parse_frames(c);
}

static void on_writable(conn_t *c) {
  if (c->state == C_TCP) {
    int err = 0;
    socklen_t l = sizeof err;
    getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &l);
    if (err) {
      st.connect_errors++;
      conn_close(c, "connect failed");
      return;
    }
    char req[512];
    int n = snprintf(req, sizeof req,
                     "GET %s HTTP/1.1\r\nHost: %s:%d\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                     "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
                     path, host, port);
    c->state = C_HTTP;
    buf_append(&c->out, req, (size_t)n);
    c->want_out = 1;  // so flush_out re-arms EPOLLIN only
    flush_out(c);
    return;
  }
  flush_out(c);
}

static void start_conn(conn_t *c) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) die("socket: %s (raise ulimit -n?)", strerror(errno));
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (src_ips > 1) {
    setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
    struct sockaddr_in src = {0};
    src.sin_family = AF_INET;
    src.sin_addr.s_addr = htonl(0x7f000001u + (uint32_t)(c->idx % src_ips));
    if (bind(fd, (struct sockaddr *)&src, sizeof src) < 0) die("bind source: %s", strerror(errno));
  }
  struct sockaddr_in dst = {0};
  dst.sin_family = AF_INET;
  dst.sin_port = htons((uint16_t)port);
  inet_pton(AF_INET, host, &dst.sin_addr);
  c->fd = fd;
  c->state = C_TCP;
  c->want_out = 1;
  c->hs_start_ns = now_ns();
  struct epoll_event ev = {0};
  ev.events = EPOLLIN | EPOLLOUT;
  ev.data.ptr = c;
  epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
  if (connect(fd, (struct sockaddr *)&dst, sizeof dst) < 0 && errno != EINPROGRESS) {
    st.connect_errors++;
    conn_close(c, "connect");
    return;
  }
  if (mode == MODE_STORM) {
    c->hs_deadline_ns = c->hs_start_ns + 30000000000ll;
    timer_add(c->hs_deadline_ns, c->idx, T_HS_TIMEOUT);
  }
}

static void run_timer(timer_t_ t) {
  conn_t *c = &conns[t.conn];
  switch (t.kind) {
    case T_PING:
      if (c->state != C_OPEN || c->next_ping_ns != t.at) return;
      send_ping(c);
      if (c->fd < 0) return;
      c->next_ping_ns = t.at + ping_ms * 1000000ll;
      timer_add(c->next_ping_ns, c->idx, T_PING);
      return;
    case T_RETRY:
      if (c->state != C_NONE || c->retry_ns != t.at || c->failed) return;
      if (!c->was_open_before) inflight_handshakes++;
      start_conn(c);
      return;
    case T_HS_TIMEOUT:
      if (c->fd < 0 || c->state == C_OPEN || c->hs_deadline_ns != t.at) return;
      handshake_failed(c, &st.hs_timeouts, "no connect_confirm within 30 s");
      return;
  }
}

// ---------------------------------------------------------------- main

static int cmp_u32(const void *a, const void *b) {
  uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
  return x < y ? -1 : x > y;
}
static int cmp_i64(const void *a, const void *b) {
  int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
  return x < y ? -1 : x > y;
}

static double pct_u32(uint32_t *v, size_t n, double p) {
  if (!n) return 0;
  size_t i = (size_t)(p * (double)(n - 1) + 0.5);
  return v[i];
}

static void usage(void) {
  fprintf(stderr,
          "usage: loadgen --mode turn|idle|storm --port P [--host 127.0.0.1] [--path /ws/chat] [--proto cw|sio]\n"
          "  [--conns N] [--concurrency C] [--payload 256] [--src-ips K] [--server-pid PID]\n"
          "  turn:  [--warmup-ms 2000] [--duration-ms 5000] [--deltas 0]\n"
          "  idle:  [--hold-ms 15000] [--ping-ms 10000]\n"
          "  storm: [--jitter 0..1] [--storm-timeout-ms 60000] (stdin: SEND)\n");
  exit(2);
}

static void ramp(void) {
  while (started_count < nconns && inflight_handshakes < concurrency) {
    conn_t *c = &conns[started_count++];
    inflight_handshakes++;
    if (!t_first_connect_ns) t_first_connect_ns = now_ns();
    start_conn(c);
  }
}

int main(int argc, char **argv) {
  for (int i = 1; i < argc; ++i) {
    const char *a = argv[i];
    const char *v = i + 1 < argc ? argv[i + 1] : NULL;
#define OPT(name) (!strcmp(a, name) && v && (++i, 1))
    if (OPT("--mode")) mode = !strcmp(v, "turn") ? MODE_TURN : !strcmp(v, "idle") ? MODE_IDLE : !strcmp(v, "storm") ? MODE_STORM : -1;
    else if (OPT("--proto")) proto = !strcmp(v, "sio") ? PROTO_SIO : PROTO_CW;
    else if (OPT("--host")) host = v;
    else if (OPT("--port")) port = atoi(v);
    else if (OPT("--path")) path = v;
    else if (OPT("--conns")) nconns = atoi(v);
    else if (OPT("--concurrency")) concurrency = atoi(v);
    else if (OPT("--payload")) payload = atoi(v);
    else if (OPT("--src-ips")) src_ips = atoi(v);
    else if (OPT("--server-pid")) server_pid = atoi(v);
    else if (OPT("--warmup-ms")) warmup_ms = atoll(v);
    else if (OPT("--duration-ms")) duration_ms = atoll(v);
    else if (OPT("--hold-ms")) hold_ms = atoll(v);
    else if (OPT("--ping-ms")) ping_ms = atoll(v);
    else if (OPT("--jitter")) jitter = atof(v);
    else if (OPT("--storm-timeout-ms")) storm_timeout_ms = atoll(v);
    else if (OPT("--deltas")) expect_deltas = atoll(v);
    else if (!strcmp(a, "-v")) verbose = 1;
    else usage();
#undef OPT
  }
  if (mode < 0 || !port || nconns <= 0) usage();
  signal(SIGPIPE, SIG_IGN);
  struct rlimit rl;
  getrlimit(RLIMIT_NOFILE, &rl);
  if (rl.rlim_cur < (rlim_t)nconns + 64) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
    if (rl.rlim_cur < (rlim_t)nconns + 64) die("ulimit -n is %lu, need %d", (unsigned long)rl.rlim_cur, nconns + 64);
  }
  rng_state ^= (uint64_t)now_ns() ^ ((uint64_t)getpid() << 32);
  snprintf(run_tag, sizeof run_tag, "%08x", (uint32_t)rnd());
  build_template();
  ep = epoll_create1(EPOLL_CLOEXEC);
  conns = calloc((size_t)nconns, sizeof *conns);
  storm_rec_ms = calloc((size_t)nconns, sizeof *storm_rec_ms);
  for (int i = 0; i < nconns; ++i) {
    conns[i].idx = i;
    conns[i].fd = -1;
    make_uuid(conns[i].client_id, (uint32_t)strtoul(run_tag, NULL, 16), (uint32_t)i, rnd());
  }
  if (mode == MODE_STORM) {
    struct epoll_event ev = {0};
    ev.events = EPOLLIN;
    ev.data.ptr = NULL;
    fcntl(0, F_SETFL, fcntl(0, F_GETFL) | O_NONBLOCK);
    epoll_ctl(ep, EPOLL_CTL_ADD, 0, &ev);
  }

  proc_sample_t srv_before = sample_server();
  proc_sample_t srv_connected = {0, 0, 0}, srv_hold = {0, 0, 0};
  t_begin_ns = now_ns();
  int64_t hold_end_ns = 0, storm_end_ns = 0, storm_settle_ns = 0;
  const int64_t connect_deadline_ns = t_begin_ns + 120000000000ll;
  struct epoll_event evs[1024];
  int done = 0;
  while (!done) {
    if (mode != MODE_STORM || storm_phase == 0) ramp();
    int64_t t = now_ns();
    int timeout = 50;
    if (heap_n) {
      int64_t d = (heap[0].at - t) / 1000000;
      if (d < timeout) timeout = d < 0 ? 0 : (int)d;
    }
    int n = epoll_wait(ep, evs, 1024, timeout);
    for (int i = 0; i < n; ++i) {
      conn_t *c = evs[i].data.ptr;
      if (!c) {
        char line[256];
        ssize_t r = read(0, line, sizeof line - 1);
        if (r <= 0) {
          epoll_ctl(ep, EPOLL_CTL_DEL, 0, NULL);
          continue;
        }
        line[r] = 0;
        if (strstr(line, "SEND") && storm_phase == 2) {
          storm_phase = 3;
          for (int k = 0; k < nconns; ++k) storm_send_new(&conns[k]);
          fprintf(stderr, "loadgen: storm: second message sent on %d connections\n", nconns);
        }
        if (strstr(line, "QUIT")) done = 1;
        continue;
      }
      if (c->fd < 0) continue;
      uint32_t e = evs[i].events;
      if (e & EPOLLOUT) on_writable(c);
      if (c->fd >= 0 && (e & (EPOLLIN | EPOLLHUP | EPOLLERR))) {
        if (c->state == C_TCP && (e & (EPOLLERR | EPOLLHUP))) {
          st.connect_errors++;
          conn_close(c, "connect refused");
        } else {
          on_readable(c);
        }
      }
    }
    t = now_ns();
    while (heap_n && heap[0].at <= t) run_timer(timer_pop());

    if (connected_count < nconns && t > connect_deadline_ns && mode != MODE_STORM) {
      fprintf(stderr, "loadgen: only %d of %d connections confirmed after 120 s\n", connected_count, nconns);
      break;
    }
    switch (mode) {
      case MODE_TURN:
        if (connected_count == nconns && !kick_ns) {
          kick_ns = t;
          for (int k = 0; k < nconns; ++k) {
            if (conns[k].state == C_OPEN) turn_send_next(&conns[k]);
          }
          win_start_ns = kick_ns + warmup_ms * 1000000ll;
          win_end_ns = win_start_ns + duration_ms * 1000000ll;
        }
        if (kick_ns && !in_window && t >= win_start_ns && t < win_end_ns) {
          in_window = 1;
          win_start_ns = t;
          win_end_ns = t + duration_ms * 1000000ll;
          srv_a = sample_server();
          gen_cpu_a = self_cpu_s();
        }
        if (in_window && t >= win_end_ns) {
          srv_b = sample_server();
          gen_cpu_b = self_cpu_s();
          win_end_ns = t;
          done = 1;
        }
        break;
      case MODE_IDLE:
        if (connected_count == nconns && !hold_end_ns) {
          srv_connected = sample_server();
          hold_end_ns = t + hold_ms * 1000000ll;
          fprintf(stderr, "loadgen: %d connected in %.0f ms\n", nconns,
                  (double)(t_all_connected_ns - t_first_connect_ns) / 1e6);
        }
        if (hold_end_ns && t >= hold_end_ns) {
          srv_hold = sample_server();
          done = 1;
        }
        break;
      case MODE_STORM:
        if (storm_phase == 0 && connected_count == nconns) {
          storm_phase = 1;
          for (int k = 0; k < nconns; ++k) storm_send_new(&conns[k]);
        }
        if (storm_phase == 1 && storm_turn1_done >= nconns) {
          storm_phase = 2;
          for (int k = 0; k < nconns; ++k) conns[k].was_open_before = 1;
          fprintf(stdout, "READY\n");
          fflush(stdout);
          fprintf(stderr, "loadgen: storm: %d connected, one turn each; ready\n", nconns);
        }
        if (storm_phase == 3) {
          if (storm_first_loss_ns && !storm_end_ns) storm_end_ns = storm_first_loss_ns + storm_timeout_ms * 1000000ll;
          int settled = storm_lost_count == nconns && storm_recovered_count + (int)st.failed_clients >= nconns;
          if (settled && !storm_settle_ns) storm_settle_ns = t + 1000000000ll;  // late duplicates and gaps
          if ((storm_settle_ns && t >= storm_settle_ns) || (storm_end_ns && t >= storm_end_ns)) done = 1;
        }
        if (t - t_begin_ns > 300000000000ll) done = 1;
        break;
    }
  }

  // ------------------------------------------------------------ report
  double connect_ms = t_all_connected_ns ? (double)(t_all_connected_ns - t_first_connect_ns) / 1e6 : -1;
  printf("{\"mode\":\"%s\",\"proto\":\"%s\",\"conns\":%d,\"connected\":%d,\"connectMs\":%.1f,\"connectRate\":%.1f,",
         mode == MODE_TURN ? "turn" : mode == MODE_IDLE ? "idle" : "storm", proto == PROTO_SIO ? "sio" : "cw", nconns,
         connected_count, connect_ms, connect_ms > 0 ? nconns / (connect_ms / 1000.0) : 0);
  printf("\"errors\":{\"connect\":%lld,\"http\":%lld,\"closedBeforeConfirm\":%lld,\"handshakeTimeouts\":%lld,"
         "\"unexpectedCloses\":%lld,\"errorFrames\":%lld,\"badFrames\":%lld,\"seqOrder\":%lld,"
         "\"deltaOrder\":%lld,\"deltaCount\":%lld},",
         (long long)st.connect_errors, (long long)st.http_errors, (long long)st.closes_before_confirm,
         (long long)st.hs_timeouts, (long long)st.unexpected_closes, (long long)st.errors, (long long)st.bad_frames,
         (long long)st.seq_order_errors, (long long)st.delta_order_errors, (long long)st.delta_count_errors);
  if (mode == MODE_TURN) {
    double secs = (double)(win_end_ns - win_start_ns) / 1e9;
    qsort(lat_us, lat_n, sizeof *lat_us, cmp_u32);
    double gen_cpu = gen_cpu_b - gen_cpu_a, srv_cpu = srv_b.cpu_s - srv_a.cpu_s;
    printf("\"windowS\":%.3f,\"turns\":%lld,\"turnsPerS\":%.1f,\"errorsInWindow\":%lld,"
           "\"expectDeltas\":%lld,\"deltas\":%lld,\"deltasInWindow\":%lld,"
           "\"p50Us\":%.0f,\"p90Us\":%.0f,\"p99Us\":%.0f,\"maxUs\":%.0f,"
           "\"genCpuS\":%.3f,\"genCpuPct\":%.1f,\"serverCpuS\":%.3f,\"serverCpuPct\":%.1f,"
           "\"serverCpuUsPerTurn\":%.2f,\"serverRssKb\":%ld,\"serverHwmKb\":%ld}\n",
           secs, (long long)turns_in_window, secs > 0 ? turns_in_window / secs : 0, (long long)errors_in_window,
           (long long)expect_deltas, (long long)st.deltas, (long long)deltas_in_window,
           pct_u32(lat_us, lat_n, 0.5), pct_u32(lat_us, lat_n, 0.9), pct_u32(lat_us, lat_n, 0.99),
           lat_n ? (double)lat_us[lat_n - 1] : 0, gen_cpu, secs > 0 ? 100 * gen_cpu / secs : 0, srv_cpu,
           secs > 0 ? 100 * srv_cpu / secs : 0, turns_in_window ? srv_cpu * 1e6 / turns_in_window : 0, srv_b.rss_kb,
           srv_b.hwm_kb);
  } else if (mode == MODE_IDLE) {
    printf("\"pingsSent\":%lld,\"pongs\":%lld,\"holdMs\":%lld,\"serverRssBeforeKb\":%ld,\"serverRssConnectedKb\":%ld,"
           "\"serverRssHoldKb\":%ld,\"serverRssPerConnB\":%.0f,\"genCpuS\":%.3f}\n",
           (long long)st.pings_sent, (long long)st.pongs, (long long)hold_ms, srv_before.rss_kb, srv_connected.rss_kb,
           srv_hold.rss_kb, connected_count ? (double)(srv_hold.rss_kb - srv_before.rss_kb) * 1024.0 / connected_count : 0,
           self_cpu_s());
  } else {
    qsort(storm_rec_ms, storm_rec_n, sizeof *storm_rec_ms, cmp_i64);
    // time from the first loss until 99% of all clients recovered
    int64_t need = (int64_t)((nconns * 99 + 99) / 100);
    int64_t t99 = -1;
    {
      // absolute recovery times since first loss
      int64_t *abs_ms = calloc((size_t)nconns, sizeof *abs_ms);
      size_t k = 0;
      for (int i = 0; i < nconns; ++i) {
        if (conns[i].recovered_ns) abs_ms[k++] = (conns[i].recovered_ns - storm_first_loss_ns) / 1000000;
      }
      qsort(abs_ms, k, sizeof *abs_ms, cmp_i64);
      if ((int64_t)k >= need) t99 = abs_ms[need - 1];
      free(abs_ms);
    }
    int64_t gaps = 0, no_outcome = 0, last_loss_ms = 0;
    for (int i = 0; i < nconns; ++i) {
      conn_t *c = &conns[i];
      for (int64_t s = 1; s <= c->max_seq && s < 64; ++s) gaps += !(c->seen >> s & 1);
      for (int m = 0; m < c->nmsgs; ++m) no_outcome += !c->msgs[m].outcome;
      if (c->lost_ns) {
        int64_t l = (c->lost_ns - storm_first_loss_ns) / 1000000;
        if (l > last_loss_ms) last_loss_ms = l;
      }
    }
    int64_t peak = 0;
    for (int i = 0; i < 4096; ++i) {
      if (hs_buckets[i] > peak && (int64_t)i * HS_BUCKET_MS * 1000000ll > storm_first_loss_ns - t_begin_ns) peak = hs_buckets[i];
    }
    size_t rn = storm_rec_n;
    printf("\"jitter\":%.2f,\"lost\":%d,\"recovered\":%d,\"failedClients\":%lld,\"timeTo99PctMs\":%lld,"
           "\"recoveryP50Ms\":%lld,\"recoveryP99Ms\":%lld,\"recoveryMaxMs\":%lld,\"lossSpreadMs\":%lld,"
           "\"peakAcceptsPerS\":%lld,\"failedHandshakes\":%lld,\"resumedFalse\":%lld,\"recoveredFalse\":%lld,"
           "\"abandonedTurns\":%lld,\"seqGaps\":%lld,\"messagesWithoutOutcome\":%lld,\"eventsLost\":%lld,"
           "\"genCpuS\":%.3f}\n",
           jitter, storm_lost_count, storm_recovered_count, (long long)st.failed_clients, (long long)t99,
           rn ? (long long)storm_rec_ms[rn / 2] : -1, rn ? (long long)storm_rec_ms[(size_t)((rn - 1) * 0.99)] : -1,
           rn ? (long long)storm_rec_ms[rn - 1] : -1, (long long)last_loss_ms,
           (long long)(peak * (1000 / HS_BUCKET_MS)),
           (long long)(st.connect_errors + st.http_errors + st.closes_before_confirm + st.hs_timeouts),
           (long long)st.resumed_false, (long long)st.recovered_false, (long long)st.abandoned, (long long)gaps,
           (long long)no_outcome, (long long)(gaps + no_outcome), self_cpu_s());
  }
  fflush(stdout);
  return 0;
}
