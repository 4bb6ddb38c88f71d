/*
 * hold_conns: opens N TCP connections to one target, holds them, then (optionally) sends one
 * request on each: "how many concurrent connections can a balancer carry".
 *
 *   gcc -O2 -Wall -Wextra -o hold_conns scripts/bench/hold_conns.c
 *   hold_conns --target IP:PORT --sources IP1,IP2,... --count N [--rate R] [--pending P]
 *              [--hold S] [--timeout S] [--timeout-total S] [--workers W]
 *              [--request "GET / HTTP/1.1\r\nHost: x\r\n\r\n"]
 *
 * Phases, each worker in one epoll loop over non-blocking sockets:
 *  connect  N attempts, sources round-robin, at most P (default 2000) pending and, with --rate,
 *           at most R started per second; an attempt not done within --timeout (default 10 s)
 *           counts timedOut. Sockets are bound with IP_BIND_ADDRESS_NO_PORT (Linux 4.2) so the
 *           port is picked for the whole 4-tuple at connect(): about 64k ports per source.
 *  idle     once every worker has resolved all its attempts, the established connections are
 *           held --hold seconds (default 5); a read of 0 or an error is the peer's close
 *           (closedWhileIdle, which also counts closes during the connect phase).
 *  active   with --request: the request is sent on every open connection, at most P waiting for
 *           their status line at once (so the latency is the peer's, not our own queue's); a
 *           status line "HTTP/1.x 200" is served, anything else or --timeout is failed.
 * Invariant: established = closedWhileIdle + served + failed (+ still open without --request).
 *
 * --workers W (default 1) splits the N connections over W forked processes: RLIMIT_NOFILE is per
 * process, and without CAP_SYS_RESOURCE the hard limit (often 1024..65536) caps one process.
 * Workers share their counters and latencies through one MAP_SHARED region; the parent runs the
 * barrier between the phases, prints progress (stderr, every 25,000 resolved connections) and
 * the ONE JSON object (stdout). Exit 0 when it ran to the end (the JSON says what failed), 1 when
 * it cannot start or a worker died, 2 on bad usage, 3 when --timeout-total (default 300 s) cut it
 * short (the JSON then has what the workers had, with "complete":false).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT 24 /* include/uapi/linux/in.h */
#endif

enum { ST_NEW, ST_CONNECTING, ST_OPEN, ST_FAILED, ST_CLOSED, ST_SENT, ST_SERVED, ST_REQFAIL };

/* "HTTP/1.1 200" is 12 bytes: enough to decide; the rest of the response is drained unread. */
#define STATUS_LEN 12
#define MAX_SOURCES 64
#define MAX_WORKERS 256
#define MAX_ERRNO 256
#define PROGRESS_EVERY 25000
#define GO_MARK UINT32_MAX /* epoll data of the barrier pipe */

/* 32 bytes per connection, in one calloc'd array per worker: 200,000 of them are 6.4 MB. */
struct conn {
  int fd;
  uint8_t state;
  uint8_t blen;
  uint16_t pad;
  uint64_t t0; /* connect or request start, CLOCK_MONOTONIC ns */
  char buf[16];
};

/* One per worker in shared memory, updated live, so the parent can report even a killed run. */
struct tally {
  long resolved, established, timed_out, closed_idle, served, failed, n_lat, rss_kib;
  long errors[MAX_ERRNO]; /* by errno; 0 = unknown */
};

/* Options. */
static long n_conns, n_sources, n_workers = 1, pending_max = 2000;
static double rate, hold_s = 5, timeout_s = 10, total_s = 300;
static char *request, target_text[64];
static size_t request_len;
static struct sockaddr_in target, sources[MAX_SOURCES];
/* Shared: the tallies, then one latency slot (us) per connection. */
static struct tally *tallies;
static uint32_t *lat_all;
static uint64_t t_start;
/* This worker's. */
static struct tally *me;
static struct conn *conns;
static uint32_t *lat_us;
static long n_mine, first_global, outstanding;
static int ep, up_wr, down_rd, go;

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void usage(const char *why) {
  fprintf(stderr, "hold_conns: %s (usage: hold_conns --target IP:PORT --sources IP,... --count N"
                  " [--rate R] [--pending P] [--hold S] [--timeout S] [--timeout-total S]"
                  " [--workers W] [--request TEXT])\n", why);
  exit(2);
}

static double number_arg(const char *name, const char *text, double min, double max) {
  char *end;
  errno = 0;
  double v = strtod(text, &end);
  if (errno != 0 || end == text || *end != '\0' || !(v >= min && v <= max)) {
    char msg[128];
    snprintf(msg, sizeof msg, "--%s %.40s: not a number in %g..%g", name, text, min, max);
    usage(msg);
  }
  return v;
}

static int parse_ip(const char *text, struct sockaddr_in *sa) {
  memset(sa, 0, sizeof *sa);
  sa->sin_family = AF_INET;
  return inet_pton(AF_INET, text, &sa->sin_addr) == 1 ? 0 : -1;
}

/* The shell passes "\r\n" as backslash letters: turn \r, \n, \t and \\ into the bytes. */
static size_t unescape(char *s) {
  char *w = s;
  for (char *r = s; *r; r++) {
    if (*r == '\\' && r[1] != '\0') {
      r++;
      *w++ = *r == 'r' ? '\r' : *r == 'n' ? '\n' : *r == 't' ? '\t' : *r;
    } else {
      *w++ = *r;
    }
  }
  *w = '\0';
  return (size_t)(w - s);
}

static void fail_connect(struct conn *c, int e) {
  if (c->fd >= 0) close(c->fd);
  c->fd = -1;
  c->state = ST_FAILED;
  me->errors[e > 0 && e < MAX_ERRNO ? e : 0]++;
  me->resolved++;
}

/* Starts connection i: socket, bind to its source without a port, connect. -1 on EMFILE. */
static int start_connect(long i) {
  struct conn *c = &conns[i];
  c->t0 = now_ns();
  c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (c->fd < 0) {
    int e = errno;
    fail_connect(c, e);
    return e == EMFILE || e == ENFILE ? -1 : 0;
  }
  int one = 1;
  setsockopt(c->fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
  struct sockaddr_in *src = &sources[(first_global + i) % n_sources];
  if (bind(c->fd, (struct sockaddr *)src, sizeof *src) < 0) {
    fail_connect(c, errno);
    return 0;
  }
  /* A connect() done at once (loopback) is reported writable by epoll at once, like the rest. */
  if (connect(c->fd, (struct sockaddr *)&target, sizeof target) < 0 && errno != EINPROGRESS) {
    fail_connect(c, errno);
    return 0;
  }
  c->state = ST_CONNECTING;
  struct epoll_event ev = {.events = EPOLLOUT, .data.u32 = (uint32_t)i};
  if (epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev) < 0) fail_connect(c, errno);
  return 0;
}

/* A status line decided (or the peer gave up): count it and stop watching the connection. */
static void finish_request(struct conn *c, int ok) {
  if (c->state == ST_SENT) outstanding--;
  if (ok) {
    lat_us[me->n_lat++] = (uint32_t)((now_ns() - c->t0) / 1000);
    me->served++;
    c->state = ST_SERVED;
    /* Drain the rest of the (small) response so the final close() sends FIN, not RST. */
    char scratch[4096];
    for (int k = 0; k < 16 && read(c->fd, scratch, sizeof scratch) > 0; k++) {
    }
    epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
  } else {
    me->failed++;
    c->state = ST_REQFAIL;
    close(c->fd);
    c->fd = -1;
  }
}

static void on_event(const struct epoll_event *ev) {
  if (ev->data.u32 == GO_MARK) {
    char b;
    if (read(down_rd, &b, 1) == 1) {
      go = 1;
      epoll_ctl(ep, EPOLL_CTL_DEL, down_rd, NULL);
    }
    return;
  }
  struct conn *c = &conns[ev->data.u32];
  if (c->state == ST_CONNECTING) {
    int err = 0;
    socklen_t len = sizeof err;
    if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0) err = errno;
    if (err == 0 && (ev->events & (EPOLLERR | EPOLLHUP))) err = ECONNRESET;
    if (err != 0) {
      fail_connect(c, err);
      return;
    }
    struct epoll_event in = {.events = EPOLLIN | EPOLLRDHUP, .data.u32 = ev->data.u32};
    epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &in);
    c->state = ST_OPEN;
    me->established++;
    me->resolved++;
  } else if (c->state == ST_OPEN) {
    /* Nothing is expected before our request: data is discarded, 0 or an error is a close. */
    char scratch[256];
    ssize_t n = read(c->fd, scratch, sizeof scratch);
    if (n == 0 || (n < 0 && errno != EAGAIN) || (ev->events & (EPOLLERR | EPOLLHUP))) {
      close(c->fd);
      c->fd = -1;
      c->state = ST_CLOSED;
      me->closed_idle++;
    }
  } else if (c->state == ST_SENT) {
    ssize_t n = read(c->fd, c->buf + c->blen, STATUS_LEN - c->blen);
    if (n < 0 && errno == EAGAIN) return;
    if (n <= 0) {
      finish_request(c, 0);
      return;
    }
    c->blen += (uint8_t)n;
    if (c->blen < STATUS_LEN) return;
    /* RFC 9112 4: status-line = HTTP-version SP status-code; HTTP-version = "HTTP/" d "." d. */
    finish_request(c, memcmp(c->buf, "HTTP/1.", 7) == 0 && memcmp(c->buf + 8, " 200", 4) == 0);
  }
}

static void ep_wait(int ms) {
  struct epoll_event evs[1024];
  int n = epoll_wait(ep, evs, 1024, ms);
  for (int k = 0; k < n; k++) on_event(&evs[k]);
}

/* The parent kills a worker at --timeout-total; this is only a second bound on its loops. */
static void check_total(uint64_t now) {
  if (now - t_start > (uint64_t)((total_s + 5) * 1e9)) _exit(3);
}

/* VmRSS of a process (0 = this one) in KiB, or -1. */
static long rss_kib(pid_t pid) {
  long rss = -1;
  char line[256];
  snprintf(line, sizeof line, "/proc/%ld/status", (long)pid);
  FILE *f = fopen(pid ? line : "/proc/self/status", "r");
  while (f && fgets(line, sizeof line, f)) {
    if (sscanf(line, "VmRSS: %ld", &rss) == 1) break;
  }
  if (f) fclose(f);
  return rss;
}

static void worker(void) {
  conns = calloc((size_t)n_mine, sizeof *conns);
  ep = epoll_create1(EPOLL_CLOEXEC);
  if (!conns || ep < 0) {
    fprintf(stderr, "hold_conns: worker cannot allocate its state: %s\n", strerror(errno));
    _exit(1);
  }
  const uint64_t timeout_ns = (uint64_t)(timeout_s * 1e9);
  const long pending = pending_max / n_workers > 0 ? pending_max / n_workers : 1;
  const double my_rate = rate / (double)n_workers;

  /* connect: attempts start in index order with one timeout, so the oldest one still
   * connecting is the lowest index in that state and `oldest` only moves forward. */
  long next = 0, oldest = 0, out_of_fds = 0;
  while (me->resolved < n_mine) {
    uint64_t now = now_ns();
    check_total(now);
    long allowed = my_rate > 0 ? (long)((double)(now - t_start) / 1e9 * my_rate) + 1 : n_mine;
    /* Bursts of at most 1024 keep timeouts and events served while launching. */
    for (int k = 0; k < 1024 && next < n_mine && next < allowed && next - me->resolved < pending;
         k++) {
      if (out_of_fds) {
        conns[next].fd = -1;
        fail_connect(&conns[next++], EMFILE); /* the rest would fail the same way */
      } else if (start_connect(next++) < 0) {
        out_of_fds = 1;
      }
    }
    for (; oldest < next; oldest++) {
      struct conn *c = &conns[oldest];
      if (c->state != ST_CONNECTING) continue;
      if (c->t0 + timeout_ns > now) break; /* t0 may be later than now */
      close(c->fd);
      c->fd = -1;
      c->state = ST_FAILED;
      me->timed_out++;
      me->resolved++;
    }
    ep_wait(next < n_mine && next < allowed && next - me->resolved < pending ? 0 : 2);
  }

  /* barrier: tell the parent, then keep serving closes until every worker is done too. */
  struct epoll_event gev = {.events = EPOLLIN, .data.u32 = GO_MARK};
  if (write(up_wr, "c", 1) != 1 || epoll_ctl(ep, EPOLL_CTL_ADD, down_rd, &gev) < 0) _exit(1);
  while (!go) {
    check_total(now_ns());
    ep_wait(100);
  }

  /* idle: only the peer's closes (and resets) arrive here. */
  uint64_t hold_end = now_ns() + (uint64_t)(hold_s * 1e9);
  for (uint64_t now = now_ns(); now < hold_end; now = now_ns()) {
    check_total(now);
    long left_ms = (long)((hold_end - now) / 1000000) + 1;
    ep_wait(left_ms > 100 ? 100 : (int)left_ms);
  }

  /* active: requests in index order, so again a forward-only cursor finds the oldest. */
  if (request != NULL) {
    long send_next = 0, wait_oldest = 0;
    while (send_next < n_mine || outstanding > 0) {
      uint64_t now = now_ns();
      check_total(now);
      for (; send_next < n_mine && outstanding < pending; send_next++) {
        struct conn *c = &conns[send_next];
        if (c->state != ST_OPEN) continue;
        c->t0 = now_ns();
        if (send(c->fd, request, request_len, MSG_NOSIGNAL) != (ssize_t)request_len) {
          finish_request(c, 0); /* a small request that does not fit at once: broken */
          continue;
        }
        c->state = ST_SENT;
        outstanding++;
      }
      for (; wait_oldest < send_next; wait_oldest++) {
        struct conn *c = &conns[wait_oldest];
        if (c->state != ST_SENT) continue;
        if (c->t0 + timeout_ns > now) break;
        finish_request(c, 0);
      }
      ep_wait(2);
    }
  }
  me->rss_kib = rss_kib(0);
  _exit(0); /* the kernel closes the held sockets */
}

static int cmp_u32(const void *a, const void *b) {
  uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
  return x < y ? -1 : x > y;
}

/* The one JSON object: the workers' tallies summed, the latencies of all of them sorted. */
static void print_json(int complete, uint64_t t_connect_end) {
  struct tally sum = {0};
  long lat_n = 0, off = 0;
  for (long w = 0; w < n_workers; w++) {
    const struct tally *t = &tallies[w];
    long share = n_conns / n_workers + (w < n_conns % n_workers);
    sum.established += t->established, sum.timed_out += t->timed_out;
    sum.closed_idle += t->closed_idle, sum.served += t->served, sum.failed += t->failed;
    sum.rss_kib += t->rss_kib > 0 ? t->rss_kib : 0;
    for (int e = 0; e < MAX_ERRNO; e++) sum.errors[e] += t->errors[e];
    long n = t->n_lat < share ? t->n_lat : share;
    memmove(lat_all + lat_n, lat_all + off, (size_t)n * sizeof *lat_all);
    lat_n += n;
    off += share;
  }
  double cs = (double)((t_connect_end ? t_connect_end : now_ns()) - t_start) / 1e9;
  printf("{\"target\":\"%s\",\"requested\":%ld,\"sources\":%ld,\"workers\":%ld,\"complete\":%s,"
         "\"established\":%ld,\"errors\":{",
         target_text, n_conns, n_sources, n_workers, complete ? "true" : "false", sum.established);
  /* The expected failures always; any other errno by its name when it occurred. */
  const char *sep = "";
  for (int e = 0; e < MAX_ERRNO; e++) {
    int named = e == ECONNREFUSED || e == ECONNRESET || e == EADDRNOTAVAIL || e == EMFILE;
    if (!named && sum.errors[e] == 0) continue;
    const char *name = e == 0 ? NULL : strerrorname_np(e);
    printf("%s\"%s\":%ld", sep, name ? name : "unknown", sum.errors[e]);
    sep = ",";
  }
  printf("},\"timedOut\":%ld,\"closedWhileIdle\":%ld,\"served\":%ld,\"failed\":%ld,"
         "\"connectSeconds\":%.3f,\"connectRate\":%.0f,\"latencyUs\":",
         sum.timed_out, sum.closed_idle, sum.served, sum.failed, cs,
         cs > 0 ? (double)sum.established / cs : 0);
  if (lat_n == 0) {
    printf("{\"p50\":null,\"p99\":null,\"max\":null}");
  } else {
    qsort(lat_all, (size_t)lat_n, sizeof *lat_all, cmp_u32);
    printf("{\"p50\":%u,\"p99\":%u,\"max\":%u}", lat_all[(lat_n - 1) / 2],
           lat_all[(long)((double)(lat_n - 1) * 0.99)], lat_all[lat_n - 1]);
  }
  printf(",\"rssKiB\":%ld}\n", sum.rss_kib + rss_kib(0));
  fflush(stdout);
}

static void parse_args(int argc, char **argv) {
  static const struct option opts[] = {
      {"target", required_argument, 0, 't'},  {"sources", required_argument, 0, 's'},
      {"count", required_argument, 0, 'n'},   {"rate", required_argument, 0, 'r'},
      {"pending", required_argument, 0, 'p'}, {"hold", required_argument, 0, 'h'},
      {"timeout", required_argument, 0, 'o'}, {"timeout-total", required_argument, 0, 'T'},
      {"request", required_argument, 0, 'q'}, {"workers", required_argument, 0, 'w'},
      {0, 0, 0, 0}};
  char *tgt = NULL, *srcs = NULL;
  opterr = 0;
  for (int o; (o = getopt_long_only(argc, argv, "", opts, NULL)) != -1;) {
    switch (o) {
    case 't': tgt = optarg; break;
    case 's': srcs = optarg; break;
    case 'n': n_conns = (long)number_arg("count", optarg, 1, 10000000); break;
    case 'r': rate = number_arg("rate", optarg, 1, 1e7); break;
    case 'p': pending_max = (long)number_arg("pending", optarg, 1, 1000000); break;
    case 'h': hold_s = number_arg("hold", optarg, 0, 86400); break;
    case 'o': timeout_s = number_arg("timeout", optarg, 0.001, 86400); break;
    case 'T': total_s = number_arg("timeout-total", optarg, 1, 86400); break;
    case 'w': n_workers = (long)number_arg("workers", optarg, 1, MAX_WORKERS); break;
    case 'q': request = optarg; request_len = unescape(request); break;
    default: usage("unknown option or missing value");
    }
  }
  if (optind < argc) usage("unexpected argument");
  if (!tgt || !srcs || n_conns == 0) usage("--target, --sources and --count are required");
  if (n_workers > n_conns) usage("--workers: more workers than connections");
  snprintf(target_text, sizeof target_text, "%s", tgt);
  char *colon = strrchr(target_text, ':');
  if (!colon) usage("--target: expected IP:PORT");
  *colon = '\0';
  int port = (int)number_arg("target port", colon + 1, 1, 65535);
  if (parse_ip(target_text, &target) < 0) usage("--target: not an IPv4 address");
  target.sin_port = htons((uint16_t)port);
  *colon = ':';
  char *save = NULL;
  for (char *tok = strtok_r(srcs, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
    if (n_sources == MAX_SOURCES) usage("--sources: at most 64 addresses");
    if (parse_ip(tok, &sources[n_sources++]) < 0) usage("--sources: not an IPv4 address");
  }
  if (n_sources == 0) usage("--sources: no address");
}

/* Raises the soft (and if need be hard) descriptor limit that the workers inherit. */
static void raise_nofile(long want) {
  struct rlimit rl;
  getrlimit(RLIMIT_NOFILE, &rl);
  if (rl.rlim_cur >= (rlim_t)want) return;
  rlim_t hard = rl.rlim_max;
  rl.rlim_cur = (rlim_t)want;
  if (rl.rlim_max < (rlim_t)want) rl.rlim_max = (rlim_t)want;
  if (setrlimit(RLIMIT_NOFILE, &rl) == 0) return;
  fprintf(stderr, "hold_conns: cannot raise RLIMIT_NOFILE to %ld: %s (hard limit %lu; raising it "
                  "needs CAP_SYS_RESOURCE and fs.nr_open >= %ld; or use more --workers, each holds "
                  "--count/--workers)\n", want, strerror(errno), (unsigned long)hard, want);
  exit(1);
}

int main(int argc, char **argv) {
  parse_args(argc, argv);
  signal(SIGPIPE, SIG_IGN);
  raise_nofile(n_conns / n_workers + 1 + 1000);
  size_t tally_bytes = (size_t)n_workers * sizeof *tallies;
  void *shm = mmap(NULL, tally_bytes + (size_t)n_conns * sizeof *lat_all,
                   PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  int up[2], down[2];
  if (shm == MAP_FAILED || pipe2(up, O_CLOEXEC) < 0 || pipe2(down, O_CLOEXEC | O_NONBLOCK) < 0) {
    fprintf(stderr, "hold_conns: cannot set up: %s\n", strerror(errno));
    return 1;
  }
  tallies = shm;
  lat_all = (uint32_t *)((char *)shm + tally_bytes);
  t_start = now_ns();
  pid_t pids[MAX_WORKERS];
  int status[MAX_WORKERS];
  long off = 0;
  for (long w = 0; w < n_workers; w++) {
    long share = n_conns / n_workers + (w < n_conns % n_workers);
    pids[w] = fork();
    if (pids[w] < 0) {
      fprintf(stderr, "hold_conns: fork: %s\n", strerror(errno));
      for (long k = 0; k < w; k++) kill(pids[k], SIGKILL), waitpid(pids[k], NULL, 0);
      return 1;
    }
    if (pids[w] == 0) {
      me = &tallies[w], lat_us = lat_all + off, n_mine = share, first_global = off;
      up_wr = up[1], down_rd = down[0];
      worker();
    }
    status[w] = -1;
    off += share;
  }

  /* Supervise: progress, the connect barrier, the total bound, the workers' exits. */
  long arrived = 0, alive = n_workers, next_progress = PROGRESS_EVERY, failed_worker = 0;
  uint64_t t_connect_end = 0, deadline = t_start + (uint64_t)(total_s * 1e9);
  while (alive > 0) {
    struct pollfd pfd = {.fd = up[0], .events = POLLIN};
    if (poll(&pfd, 1, 100) > 0) {
      char b[MAX_WORKERS];
      ssize_t n = read(up[0], b, sizeof b);
      if (n > 0 && (arrived += n) == n_workers) {
        t_connect_end = now_ns();
        long est = 0;
        for (long w = 0; w < n_workers; w++) est += tallies[w].established;
        fprintf(stderr, "hold_conns: connect phase %.2f s: %ld established; holding %.0f s\n",
                (double)(t_connect_end - t_start) / 1e9, est, hold_s);
        char gos[MAX_WORKERS];
        memset(gos, 'g', sizeof gos);
        if (write(down[1], gos, (size_t)n_workers) != n_workers) failed_worker = 1;
      }
    }
    long resolved = 0;
    for (long w = 0; w < n_workers; w++) resolved += tallies[w].resolved;
    if (resolved >= next_progress && !t_connect_end) {
      fprintf(stderr, "hold_conns: %ld/%ld resolved, %.0f/s\n", resolved, n_conns,
              (double)resolved / ((double)(now_ns() - t_start) / 1e9));
      next_progress = (resolved / PROGRESS_EVERY + 1) * PROGRESS_EVERY;
    }
    for (long w = 0; w < n_workers; w++) {
      int st;
      if (status[w] != -1 || waitpid(pids[w], &st, WNOHANG) != pids[w]) continue;
      status[w] = st;
      alive--;
      if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) failed_worker = 1;
    }
    int over = now_ns() > deadline;
    if (over || failed_worker) {
      for (long w = 0; w < n_workers; w++) {
        if (status[w] != -1) continue;
        tallies[w].rss_kib = rss_kib(pids[w]); /* what it held when it was stopped */
        kill(pids[w], SIGKILL);
        waitpid(pids[w], &status[w], 0);
      }
      fprintf(stderr, "hold_conns: %s, stopping\n",
              over ? "--timeout-total reached" : "a worker failed");
      print_json(0, t_connect_end);
      return over ? 3 : 1;
    }
  }
  print_json(1, t_connect_end);
  return 0;
}
