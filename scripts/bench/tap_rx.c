// The C baseline of the TAP receive loop, the same shape as stack/link/tap.ts: attach to a TAP,
// read() frames from the O_NONBLOCK fd into one buffer until EAGAIN (at most BURST per burst),
// then poll() (200 ms) when the queue is empty. For scripts/bench/tap_rx.sh; the measuring is
// the same as in tap_rx_deno.ts.
//
// usage: tap_rx IFNAME IDLE_MS MAX_SECONDS [LINGER_US]
// With LINGER_US, a burst that found the queue empty after frames sleeps LINGER_US before it
// reads again (and only polls if the queue is still empty): the read() loop's counterpart of
// tap_uring.c waiting for a batch of frames, the same trade of latency for fewer wake-ups.
// prints "ready" once attached; ends when no frame came for IDLE_MS after the first one (or after
// MAX_SECONDS) and prints {"frames": N, "rate": R, "drainRate": D, "drains": K, "cpu": C,
// "syscalls": S}:
// - rate: frames per second between the end of the first burst and the end of the last one
//   (while a sender floods, this is min(sender, reader));
// - drainRate: frames per second while draining a full queue, over the K drains of at least
//   MIN_DRAIN frames (from the first frame read after an empty queue to the end of the last burst
//   with frames before the queue was found empty).
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#define BURST 1024     // TAP_BURST_LIMIT in stack/link/tap.ts
#define MIN_DRAIN 4096 // shorter drains are wake-ups for a few frames, not a full queue

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

// User + system seconds of this process so far (getrusage(2)), for CPU per frame.
static double cpu_seconds(void) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + ru.ru_stime.tv_sec +
         ru.ru_stime.tv_usec / 1e6;
}

int main(int argc, char **argv) {
  if (argc != 4 && argc != 5) {
    fprintf(stderr, "usage: %s IFNAME IDLE_MS MAX_SECONDS [LINGER_US]\n", argv[0]);
    return 2;
  }
  double idle = atof(argv[2]) / 1000, max = atof(argv[3]);
  long linger = argc == 5 ? atol(argv[4]) : 0;
  int fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) {
    perror("open /dev/net/tun");
    return 1;
  }
  struct ifreq ifr = {0};
  strncpy(ifr.ifr_name, argv[1], IFNAMSIZ - 1);
  ifr.ifr_flags = IFF_TAP | IFF_NO_PI;
  if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
    perror("TUNSETIFF");
    return 1;
  }
  printf("ready\n");
  fflush(stdout);

  static unsigned char buf[2 + 65535 + 18];
  long long frames = 0, firstCount = 0, lastCount = 0, drainStartCount = 0, drainFrames = 0;
  long long drains = 0;
  double start = now(), cpu0 = cpu_seconds(), first = 0, last = 0, drainStart = 0, drainTime = 0;
  long long syscalls = 0;  // read() and poll() calls
  int draining = 0;
  struct pollfd pfd = {fd, POLLIN, 0};
  for (;;) {
    int burst = 0;
    while (burst < BURST) {
      syscalls++;
      ssize_t n = read(fd, buf + 2, sizeof buf - 2);
      if (n < 0) {
        if (errno == EAGAIN) break;
        if (errno == EINTR) continue;
        perror("read");
        return 1;
      }
      burst++;
      if (n < 14) continue;
      if (!draining) {  // the "frame handler": the clock is read once per drain only
        draining = 1;
        drainStart = now();
        drainStartCount = frames;
      }
      frames++;
    }
    // The "idle handler".
    double t = now();
    if (burst > 0) {
      if (first == 0) {
        first = t;
        firstCount = frames;
      }
      last = t;
      lastCount = frames;
    }
    if (draining && burst < BURST) {
      draining = 0;
      if (frames - drainStartCount >= MIN_DRAIN) {
        drainFrames += frames - drainStartCount;
        drainTime += last - drainStart;  // the end of the drain's last burst with frames
        drains++;
      }
    }
    if ((frames > 0 && t - last > idle) || t - start > max) break;
    if (burst > 0 && burst < BURST && linger > 0) {
      struct timespec ts = {linger / 1000000, linger % 1000000 * 1000};
      syscalls++;
      nanosleep(&ts, NULL);
      continue;
    }
    if (burst < BURST) {
      syscalls++;
      poll(&pfd, 1, 200);
    }
  }
  double span = last - first, cpu = cpu_seconds() - cpu0;
  printf("{\"frames\": %lld, \"rate\": %.0f, \"drainRate\": %.0f, \"drains\": %lld, "
         "\"cpu\": %.3f, \"syscalls\": %lld}\n",
         frames, span > 0 ? (lastCount - firstCount) / span : 0,
         drainTime > 0 ? drainFrames / drainTime : 0, drains, cpu, syscalls);
  close(fd);
  return 0;
}
