// The C baseline of DR forwarding through a TAP, for scripts/bench/tap_fwd.sh: the receive loop
// of tap_rx.c (read() frames from the O_NONBLOCK fd into one buffer until EAGAIN, at most BURST
// per burst, then poll() (200 ms) when the queue is empty), and for each frame what a direct
// routing balancer does at the link layer: the destination MAC becomes the real server's, the
// source MAC its own, and the frame is written back with write(). Nothing else is looked at (no
// IPv4 or TCP parsing, no flow table): the least work a forwarder can do per frame.
//
// usage: tap_fwd IFNAME IDLE_MS MAX_SECONDS REAL_MAC OWN_MAC
// prints "ready" once attached; ends when no frame came for IDLE_MS after the first one (or after
// MAX_SECONDS) and prints {"frames": N, "forwarded": F, "writeErrors": E, "rate": R,
// "drainRate": D, "drains": K}, with rate, drainRate and drains measured as in tap_rx.c (here
// over frames read and forwarded). tap_fwd.sh measures it from the outside instead, by the TAP's
// rx_packets counter, as it measures lb.ts; these are a cross-check.
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

static int parse_mac(const char *s, unsigned char *mac) {
  unsigned v[6];
  if (sscanf(s, "%x:%x:%x:%x:%x:%x", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5]) != 6) return -1;
  for (int i = 0; i < 6; i++) {
    if (v[i] > 255) return -1;
    mac[i] = (unsigned char)v[i];
  }
  return 0;
}

int main(int argc, char **argv) {
  unsigned char macs[12];  // destination (the real server), then source (this forwarder)
  if (argc != 6 || parse_mac(argv[4], macs) < 0 || parse_mac(argv[5], macs + 6) < 0) {
    fprintf(stderr, "usage: %s IFNAME IDLE_MS MAX_SECONDS REAL_MAC OWN_MAC\n", argv[0]);
    return 2;
  }
  double idle = atof(argv[2]) / 1000, max = atof(argv[3]);
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

  // The frame at offset 2, so the IP header after the 14-byte Ethernet header is 4-byte aligned
  // (as in stack/link/tap.ts).
  static unsigned char buf[2 + 65535 + 18];
  unsigned char *frame = buf + 2;
  long long frames = 0, forwarded = 0, writeErrors = 0;
  long long firstCount = 0, lastCount = 0, drainStartCount = 0, drainFrames = 0, drains = 0;
  double start = now(), cpu0 = cpu_seconds(), first = 0, last = 0, drainStart = 0, drainTime = 0;
  long long syscalls = 0;  // read(), write() and poll() calls
  int draining = 0;
  struct pollfd pfd = {fd, POLLIN, 0};
  for (;;) {
    int burst = 0;
    while (burst < BURST) {
      syscalls++;
      ssize_t n = read(fd, frame, sizeof buf - 2);
      if (n < 0) {
        if (errno == EAGAIN) break;
        if (errno == EINTR) continue;
        perror("read");
        return 1;
      }
      burst++;
      if (n < 14) continue;
      if (!draining) {  // the clock is read once per drain only
        draining = 1;
        drainStart = now();
        drainStartCount = frames;
      }
      frames++;
      // Direct routing (the LVS "DR" method): only the Ethernet addresses change.
      memcpy(frame, macs, 12);
      ssize_t w;
      do {
        syscalls++;
        w = write(fd, frame, (size_t)n);
      } while (w < 0 && errno == EINTR);
      if (w == n) forwarded++;
      else writeErrors++;
    }
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
    if (burst < BURST) {
      syscalls++;
      poll(&pfd, 1, 200);
    }
  }
  double span = last - first, cpu = cpu_seconds() - cpu0;
  printf("{\"frames\": %lld, \"forwarded\": %lld, \"writeErrors\": %lld, \"rate\": %.0f, "
         "\"drainRate\": %.0f, \"drains\": %lld, \"cpu\": %.3f, \"syscalls\": %lld}\n",
         frames, forwarded, writeErrors, span > 0 ? (lastCount - firstCount) / span : 0,
         drainTime > 0 ? drainFrames / drainTime : 0, drains, cpu, syscalls);
  close(fd);
  return 0;
}
