// The io_uring variants of the C TAP baselines (tap_rx.c, tap_fwd.c), for scripts/bench/
// tap_uring.sh: the same TAP, the same frames, the same measuring, but no read() or write() per
// frame. Raw system calls (io_uring_setup(2), io_uring_register(2), io_uring_enter(2) through
// syscall(2)) and mmap(2) of the rings, no liburing, so the ring protocol is all here to read
// (io_uring(7) describes it).
//
// - Receiving: one IORING_OP_READ_MULTISHOT on the TAP fd (kernel 6.7+; io_uring_prep_read_
//   multishot(3)): one submission, then one completion (CQE) per frame, each frame in a buffer
//   the kernel picks from a provided-buffer ring (IORING_REGISTER_PBUF_RING, io_uring_register(2);
//   io_uring_setup_buf_ring(3)); the buffer id comes back in the CQE's flags and the buffer is
//   handed back by appending it to that ring again. The multishot request stops (a CQE without
//   IORING_CQE_F_MORE) when it runs out of buffers (-ENOBUFS) or cannot post a completion; it is
//   then armed again.
// - Forwarding: each frame is rewritten in place in its provided buffer (the two MACs, as
//   tap_fwd.c) and written back with an IORING_OP_WRITE SQE from that same buffer (no copy); the
//   buffer returns to the ring when the write completes.
// - BATCH (both modes): a round is one io_uring_enter(IORING_ENTER_GETEVENTS) that submits what
//   is queued (writes, a re-armed read) and waits for BATCH completions more than the writes it
//   submits (they complete inline, before the wait), at most WAIT_US (BATCH > 1) or 200 ms
//   (BATCH 1, as the poll() of tap_rx.c; also any BATCH once a round found the queue empty);
//   then every completion is handled. The forwarder also submits as soon as BATCH writes are
//   queued (an io_uring_enter without waiting), so the writes of a round go BATCH at a time and
//   the rest with the next round's wait: about one system call per BATCH frames read and one
//   per BATCH frames written, against one per frame each for read() and write().
// - The TAP fd is a registered file (IORING_REGISTER_FILES, IOSQE_FIXED_FILE).
// - The ring is IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN (io_uring_setup(2)): the
//   kernel work of the reads (the TAP's poll wake-up queues task work; the task work copies the
//   frames) runs only inside this task's io_uring_enter(IORING_ENTER_GETEVENTS), never as task
//   work interrupting it, so it is charged to this process and done where read() would do it.
//   With BATCH > 1 most waits end by their timeout ("timeouts"), not when BATCH frames are
//   queued: as we read the kernel, a DEFER_TASKRUN waiter is woken by the number of task work
//   items queued, and the multishot read is one item however many frames wait.
//
// usage: tap_uring rx IFNAME IDLE_MS MAX_SECONDS BATCH
//        tap_uring fwd IFNAME IDLE_MS MAX_SECONDS BATCH REAL_MAC OWN_MAC
//        tap_uring syscall   (the cost of a system call here: see syscall_cost)
// prints "ready" once attached; ends as tap_rx.c / tap_fwd.c do (IDLE_MS without frames after the
// first, or MAX_SECONDS) and prints their JSON fields ("frames", "rate", "drainRate", "drains";
// fwd: "forwarded", "writeErrors") plus "cpu" (user + system seconds of this process from
// "ready" to the end, getrusage(2)), "syscalls" (io_uring_enter calls), "timeouts" (waits that
// ended by their timeout) and "rearms" (multishot reads armed again).
// The drains are timed as in tap_rx.c: from the first frame after an empty queue to the end of
// the last round with frames; the queue is empty when a round brings no frame.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <linux/io_uring.h>
#include <net/if.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

// Newer than the uapi headers of Debian 12 (linux-libc-dev 6.1): the values of the kernel's
// include/uapi/linux/io_uring.h.
#ifndef IORING_OP_READ_MULTISHOT
#define IORING_OP_READ_MULTISHOT 49 // Linux 6.7
#endif

#define MIN_DRAIN 4096  // as tap_rx.c: shorter drains are wake-ups for a few frames
#define SQ_ENTRIES 512  // >= the largest BATCH plus a re-armed read
#define CQ_ENTRIES 16384 // >= NBUF reads + NBUF write completions in flight, so none overflow
#define NBUF 4096       // provided buffers (a power of two, for the buffer ring's mask)
#define BUFSZ 2048      // each holds a 1514-byte frame at offset 2 (the TAP has no offloads here)
#define BGID 7          // the buffer group id of the provided-buffer ring
#define WAIT_US 1000    // the longest a round waits for BATCH > 1 completions
#define UD_READ 0xffffffffull // user_data of the multishot read; writes carry their buffer id

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

static double cpu_seconds(void) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + ru.ru_stime.tv_sec +
         ru.ru_stime.tv_usec / 1e6;
}

static int parse_mac(const char *s, unsigned char *mac) {
  unsigned v[6];
  if (sscanf(s, "%x:%x:%x:%x:%x:%x", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5]) != 6) return -1;
  for (int i = 0; i < 6; i++) {
    if (v[i] > 255) return -1;
    mac[i] = (unsigned char)v[i];
  }
  return 0;
}

// --- the ring (io_uring(7), io_uring_setup(2))
//
// Memory ordering: the rings are shared with the kernel, which may run on another CPU. The
// rules of io_uring(7): the side that produces entries writes them and then publishes the new
// tail with a store-release; the side that consumes reads the tail with a load-acquire before it
// reads the entries, and publishes its head with a store-release after it is done with them (so
// the producer never reuses a slot still being read). Here: the SQ tail and the buffer ring's
// tail are ours to store (release); the CQ tail is the kernel's (we load it with acquire) and the
// CQ head ours (release). On x86-64 (TSO) acquire and release are plain moves (only the compiler
// must not reorder); on arm64 they are LDAR/STLR. With no SQPOLL thread the kernel reads the SQ
// only inside io_uring_enter, a system call, which orders everything before it anyway; the
// release store costs nothing and keeps the code right if SQPOLL were used.
struct ring {
  int fd;
  unsigned *sq_tail, *sq_head, sq_mask, *sq_array, sq_local;  // sq_local: SQEs written so far
  struct io_uring_sqe *sqes;
  unsigned *cq_head, *cq_tail, cq_mask;
  struct io_uring_cqe *cqes;
  struct io_uring_buf_ring *br;  // the provided-buffer ring
  unsigned short br_tail;        // buffers added so far (published with buf_publish)
  unsigned char *bufs;
  long long syscalls;
};

static int ring_init(struct ring *r) {
  struct io_uring_params p = {0};
  p.flags = IORING_SETUP_CQSIZE | IORING_SETUP_SUBMIT_ALL | IORING_SETUP_SINGLE_ISSUER |
            IORING_SETUP_DEFER_TASKRUN;
  p.cq_entries = CQ_ENTRIES;
  r->fd = (int)syscall(__NR_io_uring_setup, SQ_ENTRIES, &p);
  if (r->fd < 0) {
    perror("io_uring_setup");
    return -1;
  }
  if (!(p.features & IORING_FEAT_SINGLE_MMAP) || !(p.features & IORING_FEAT_EXT_ARG)) {
    fprintf(stderr, "io_uring: kernel too old (features %#x)\n", p.features);
    return -1;
  }
  // One mapping holds both the SQ ring (head, tail, the index array) and the CQ ring (head,
  // tail, the CQEs) since Linux 5.4 (IORING_FEAT_SINGLE_MMAP); the SQEs are a second mapping.
  size_t sq_sz = p.sq_off.array + p.sq_entries * sizeof(unsigned);
  size_t cq_sz = p.cq_off.cqes + p.cq_entries * sizeof(struct io_uring_cqe);
  size_t sz = sq_sz > cq_sz ? sq_sz : cq_sz;
  unsigned char *m = mmap(NULL, sz, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, r->fd,
                          IORING_OFF_SQ_RING);
  r->sqes = mmap(NULL, p.sq_entries * sizeof(struct io_uring_sqe), PROT_READ | PROT_WRITE,
                 MAP_SHARED | MAP_POPULATE, r->fd, IORING_OFF_SQES);
  if (m == MAP_FAILED || r->sqes == MAP_FAILED) {
    perror("mmap io_uring");
    return -1;
  }
  r->sq_head = (unsigned *)(m + p.sq_off.head);
  r->sq_tail = (unsigned *)(m + p.sq_off.tail);
  r->sq_mask = *(unsigned *)(m + p.sq_off.ring_mask);
  r->sq_array = (unsigned *)(m + p.sq_off.array);
  for (unsigned i = 0; i < p.sq_entries; i++) r->sq_array[i] = i;  // SQE i in slot i, always
  r->sq_local = *r->sq_tail;
  r->cq_head = (unsigned *)(m + p.cq_off.head);
  r->cq_tail = (unsigned *)(m + p.cq_off.tail);
  r->cq_mask = *(unsigned *)(m + p.cq_off.ring_mask);
  r->cqes = (struct io_uring_cqe *)(m + p.cq_off.cqes);

  // The provided-buffer ring (io_uring_register(2), IORING_REGISTER_PBUF_RING, Linux 5.19):
  // page-aligned memory of NBUF struct io_uring_buf {addr, len, bid}; its 16-bit tail overlays
  // the first entry's last field. The kernel takes buffers at its head; we add them at the tail.
  r->br = mmap(NULL, NBUF * sizeof(struct io_uring_buf), PROT_READ | PROT_WRITE,
               MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
  r->bufs = mmap(NULL, (size_t)NBUF * BUFSZ, PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
  if (r->br == MAP_FAILED || r->bufs == MAP_FAILED) {
    perror("mmap buffers");
    return -1;
  }
  struct io_uring_buf_reg reg = {0};
  reg.ring_addr = (uint64_t)(uintptr_t)r->br;
  reg.ring_entries = NBUF;
  reg.bgid = BGID;
  if (syscall(__NR_io_uring_register, r->fd, IORING_REGISTER_PBUF_RING, &reg, 1) < 0) {
    perror("IORING_REGISTER_PBUF_RING");
    return -1;
  }
  r->br_tail = 0;
  return 0;
}

// Registers the TAP fd as fixed file 0 (io_uring_register(2), IORING_REGISTER_FILES): SQEs with
// IOSQE_FIXED_FILE then skip the file-table look-up and reference count of each request.
static int ring_register_fd(struct ring *r, int fd) {
  if (syscall(__NR_io_uring_register, r->fd, IORING_REGISTER_FILES, &fd, 1) < 0) {
    perror("IORING_REGISTER_FILES");
    return -1;
  }
  return 0;
}

// Adds buffer `bid` at the buffer ring's tail (not yet visible to the kernel: buf_publish).
// The frame goes at offset 2, so the IP header after the 14-byte Ethernet header is 4-byte
// aligned (as in tap_fwd.c and stack/link/tap.ts).
static void buf_add(struct ring *r, unsigned bid) {
  struct io_uring_buf *b = &r->br->bufs[r->br_tail & (NBUF - 1)];
  b->addr = (uint64_t)(uintptr_t)(r->bufs + (size_t)bid * BUFSZ + 2);
  b->len = BUFSZ - 2;
  b->bid = (unsigned short)bid;
  r->br_tail++;
}

static void buf_publish(struct ring *r) {
  __atomic_store_n(&r->br->tail, r->br_tail, __ATOMIC_RELEASE);  // the entries before the tail
}

static unsigned char *buf_frame(struct ring *r, unsigned bid) {
  return r->bufs + (size_t)bid * BUFSZ + 2;
}

// The next free SQE, zeroed (the ring holds SQ_ENTRIES, always more than is ever queued).
static struct io_uring_sqe *sqe_get(struct ring *r) {
  struct io_uring_sqe *s = &r->sqes[r->sq_local & r->sq_mask];
  r->sq_local++;
  memset(s, 0, sizeof *s);
  return s;
}

static void prep_read_multishot(struct ring *r) {
  struct io_uring_sqe *s = sqe_get(r);
  s->opcode = IORING_OP_READ_MULTISHOT;
  s->fd = 0;  // fixed file 0, the TAP
  s->flags = IOSQE_FIXED_FILE | IOSQE_BUFFER_SELECT;  // len 0: a whole buffer of the group
  s->buf_group = BGID;
  s->user_data = UD_READ;
}

static void prep_write(struct ring *r, unsigned bid, unsigned len) {
  struct io_uring_sqe *s = sqe_get(r);
  s->opcode = IORING_OP_WRITE;
  s->fd = 0;  // fixed file 0, the TAP
  s->flags = IOSQE_FIXED_FILE;
  s->addr = (uint64_t)(uintptr_t)buf_frame(r, bid);
  s->len = len;
  s->user_data = bid;  // the TAP is a stream (no offset): off stays 0 and is not used
}

// One io_uring_enter(2): submits the SQEs written since the last call and, with GETEVENTS,
// runs the deferred task work (the reads) and waits for `wait_nr` completions (at most
// `wait_us` microseconds if wait_us > 0). Returns 1 if the wait timed out, 2 if a signal
// interrupted it (SIGSTOP/SIGCONT of the benchmark), 0 otherwise, -1 on an unexpected error.
static int enter(struct ring *r, unsigned wait_nr, long wait_us, int getevents) {
  unsigned tail = __atomic_load_n(r->sq_tail, __ATOMIC_RELAXED);
  unsigned to_submit = r->sq_local - tail;
  __atomic_store_n(r->sq_tail, r->sq_local, __ATOMIC_RELEASE);  // the SQEs before the tail
  unsigned flags = getevents ? IORING_ENTER_GETEVENTS : 0;
  struct __kernel_timespec ts = {wait_us / 1000000, (wait_us % 1000000) * 1000};
  struct io_uring_getevents_arg arg = {0};
  void *argp = NULL;
  size_t argsz = 0;
  if (getevents && wait_nr > 0 && wait_us > 0) {
    arg.ts = (uint64_t)(uintptr_t)&ts;
    flags |= IORING_ENTER_EXT_ARG;
    argp = &arg;
    argsz = sizeof arg;
  }
  r->syscalls++;
  long n = syscall(__NR_io_uring_enter, r->fd, to_submit, wait_nr, flags, argp, argsz);
  if (n < 0 && errno != ETIME && errno != EINTR && errno != EBUSY) {
    perror("io_uring_enter");
    return -1;
  }
  return n < 0 ? (errno == ETIME ? 1 : errno == EINTR ? 2 : 0) : 0;
}

static int tap_open(const char *name) {
  int fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) {
    perror("open /dev/net/tun");
    return -1;
  }
  struct ifreq ifr = {0};
  strncpy(ifr.ifr_name, name, IFNAMSIZ - 1);
  ifr.ifr_flags = IFF_TAP | IFF_NO_PI;
  if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
    perror("TUNSETIFF");
    return -1;
  }
  return fd;
}

// `tap_uring syscall`: what one trivial system call (getppid(2)) and one io_uring_enter(2) with
// nothing to do cost here, in ns, the most a frame can save per call it no longer makes.
static int syscall_cost(void) {
  enum { N = 2000000 };
  struct ring r = {0};
  if (ring_init(&r) < 0) return 1;
  double t0 = now();
  for (int i = 0; i < N; i++) syscall(SYS_getppid);
  double t1 = now();
  for (int i = 0; i < N; i++) syscall(__NR_io_uring_enter, r.fd, 0, 0, IORING_ENTER_GETEVENTS,
                                      NULL, 0);
  double t2 = now();
  printf("{\"getppidNs\": %.0f, \"enterNs\": %.0f}\n", (t1 - t0) / N * 1e9, (t2 - t1) / N * 1e9);
  return 0;
}

int main(int argc, char **argv) {
  if (argc == 2 && strcmp(argv[1], "syscall") == 0) return syscall_cost();
  int fwd = argc == 8 && strcmp(argv[1], "fwd") == 0;
  unsigned char macs[12];  // fwd: destination (the real server), then source (this forwarder)
  if (!(fwd || (argc == 6 && strcmp(argv[1], "rx") == 0)) ||
      (fwd && (parse_mac(argv[6], macs) < 0 || parse_mac(argv[7], macs + 6) < 0)) ||
      atoi(argv[5]) < 1 || atoi(argv[5]) > SQ_ENTRIES - 1) {
    fprintf(stderr,
            "usage: %s rx IFNAME IDLE_MS MAX_SECONDS BATCH\n"
            "       %s fwd IFNAME IDLE_MS MAX_SECONDS BATCH REAL_MAC OWN_MAC\n",
            argv[0], argv[0]);
    return 2;
  }
  double idle = atof(argv[3]) / 1000, max = atof(argv[4]);
  unsigned batch = (unsigned)atoi(argv[5]);
  int fd = tap_open(argv[2]);
  struct ring r = {0};
  if (fd < 0 || ring_init(&r) < 0 || ring_register_fd(&r, fd) < 0) return 1;
  for (unsigned i = 0; i < NBUF; i++) buf_add(&r, i);
  buf_publish(&r);
  prep_read_multishot(&r);
  printf("ready\n");
  fflush(stdout);

  long long frames = 0, forwarded = 0, writeErrors = 0, rearms = 0, timeouts = 0;
  long long firstCount = 0, lastCount = 0, drainStartCount = 0, drainFrames = 0, drains = 0;
  double start = now(), cpu0 = cpu_seconds(), first = 0, last = 0, drainStart = 0, drainTime = 0;
  int draining = 0, idle_queue = 1;  // idle_queue: the last round brought no frame
  unsigned queued = 0;  // SQEs written and not yet submitted: writes, a re-armed read
  int rearm_queued = 0;  // one of them is a re-armed read (which completes per frame, not once)
  for (;;) {
    // A round: one io_uring_enter submits what is queued and waits for BATCH more completions
    // than the writes it submits (which complete inline, before the wait); then every completion
    // is handled, including those of writes submitted meanwhile. After a round without frames
    // (the queue is empty) it waits for one, up to 200 ms, as tap_rx.c's poll(): waking every
    // WAIT_US while idle would cost CPU for nothing.
    unsigned nr = idle_queue ? 1 : batch;
    int waited = enter(&r, queued - rearm_queued + nr, nr > 1 ? WAIT_US : 200000, 1);
    if (waited < 0) return 1;
    timeouts += waited == 1;
    queued = 0;
    rearm_queued = 0;
    long long round = 0;
    int rearm = 0;
    unsigned head = *r.cq_head;  // ours: only this thread stores it
    for (;;) {
      unsigned tail = __atomic_load_n(r.cq_tail, __ATOMIC_ACQUIRE);  // then the CQEs are valid
      if (head == tail) break;
      for (; head != tail; head++) {
        struct io_uring_cqe *c = &r.cqes[head & r.cq_mask];
        if (c->user_data != UD_READ) {  // a write completed: its buffer goes back
          if (c->res > 0) forwarded++;
          else writeErrors++;
          buf_add(&r, (unsigned)c->user_data);
          continue;
        }
        if (!(c->flags & IORING_CQE_F_MORE)) rearm = 1;  // the multishot read ended
        if (c->res < 0) {
          if (c->res == -ENOBUFS) continue;  // every buffer in use: re-armed after this round
          fprintf(stderr, "multishot read: %s\n", strerror(-c->res));
          return 1;
        }
        if (!(c->flags & IORING_CQE_F_BUFFER)) continue;
        unsigned bid = c->flags >> IORING_CQE_BUFFER_SHIFT;
        round++;
        if (c->res < 14) {
          buf_add(&r, bid);
          continue;
        }
        if (!draining) {  // the clock is read once per drain only
          draining = 1;
          drainStart = now();
          drainStartCount = frames;
        }
        frames++;
        if (!fwd) {
          buf_add(&r, bid);
          continue;
        }
        // Direct routing (the LVS "DR" method): only the Ethernet addresses change.
        memcpy(buf_frame(&r, bid), macs, 12);
        prep_write(&r, bid, (unsigned)c->res);
        if (++queued == batch) {
          // A full batch: hand the CQ slots read so far back first, then submit (no wait).
          __atomic_store_n(r.cq_head, head + 1, __ATOMIC_RELEASE);
          if (enter(&r, 0, 0, 0) < 0) return 1;
          queued = 0;
        }
      }
      __atomic_store_n(r.cq_head, head, __ATOMIC_RELEASE);  // done with the CQEs before head
    }
    buf_publish(&r);
    if (rearm) {
      prep_read_multishot(&r);
      queued++;
      rearm_queued = 1;
      rearms++;
    }
    idle_queue = round == 0;
    double t = now();
    if (round > 0) {
      if (first == 0) {
        first = t;
        firstCount = frames;
      }
      last = t;
      lastCount = frames;
    }
    if (draining && round == 0 && waited != 2) {  // a wait without a frame: the queue is empty
      draining = 0;
      if (frames - drainStartCount >= MIN_DRAIN) {
        drainFrames += frames - drainStartCount;
        drainTime += last - drainStart;  // the end of the drain's last round with frames
        drains++;
      }
    }
    // A wait a signal cut short (the benchmark's SIGSTOP/SIGCONT) ran no reads: the queue may
    // be full, so only the next round may call it idle.
    if ((frames > 0 && t - last > idle && waited != 2) || t - start > max) break;
  }
  double span = last - first, cpu = cpu_seconds() - cpu0;
  printf("{\"frames\": %lld, ", frames);
  if (fwd) printf("\"forwarded\": %lld, \"writeErrors\": %lld, ", forwarded, writeErrors);
  printf("\"rate\": %.0f, \"drainRate\": %.0f, \"drains\": %lld, \"cpu\": %.3f, "
         "\"syscalls\": %lld, \"timeouts\": %lld, \"rearms\": %lld}\n",
         span > 0 ? (lastCount - firstCount) / span : 0,
         drainTime > 0 ? drainFrames / drainTime : 0, drains, cpu, r.syscalls, timeouts, rearms);
  close(r.fd);
  close(fd);
  return 0;
}
