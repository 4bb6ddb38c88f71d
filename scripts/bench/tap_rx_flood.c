// Floods 60-byte Ethernet frames out of a network interface through a raw AF_PACKET socket, as
// fast as one core can, for the TAP receive benchmark (scripts/bench/tap_rx.sh). Sent on the
// kernel side of a TAP, every frame lands in the TAP's queue for its reader.
//
// usage: tap_rx_flood IFNAME SECONDS MAX_FRAMES
// prints: {"sent": N, "seconds": S, "rate": R}
#define _GNU_SOURCE
#include <errno.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BATCH 64
#define FRAME 60

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv) {
  if (argc != 4) {
    fprintf(stderr, "usage: %s IFNAME SECONDS MAX_FRAMES\n", argv[0]);
    return 2;
  }
  double seconds = atof(argv[2]);
  long long max = atoll(argv[3]);
  unsigned ifindex = if_nametoindex(argv[1]);
  if (ifindex == 0) {
    perror("if_nametoindex");
    return 1;
  }
  // Protocol 0: this socket only sends; it receives nothing.
  int fd = socket(AF_PACKET, SOCK_RAW, 0);
  if (fd < 0) {
    perror("socket(AF_PACKET)");
    return 1;
  }
  int one = 1;
  // Skip the qdisc: frames go straight to the TAP's transmit function (its ring of txqueuelen
  // frames; when the reader falls behind the TAP drops and counts them).
  setsockopt(fd, SOL_PACKET, PACKET_QDISC_BYPASS, &one, sizeof one);
  struct sockaddr_ll to = {0};
  to.sll_family = AF_PACKET;
  to.sll_ifindex = (int)ifindex;
  to.sll_halen = 6;
  memset(to.sll_addr, 0xff, 6);

  unsigned char frame[FRAME] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02, 0, 0, 0, 0, 0x01,
                                0x88, 0xb5};  // broadcast, local source, local experimental type
  for (int i = 14; i < FRAME; i++) frame[i] = (unsigned char)i;
  struct iovec iov = {frame, FRAME};
  struct mmsghdr msgs[BATCH];
  memset(msgs, 0, sizeof msgs);
  for (int i = 0; i < BATCH; i++) {
    msgs[i].msg_hdr.msg_name = &to;
    msgs[i].msg_hdr.msg_namelen = sizeof to;
    msgs[i].msg_hdr.msg_iov = &iov;
    msgs[i].msg_hdr.msg_iovlen = 1;
  }

  long long sent = 0;
  double start = now(), end = start + seconds, t = start;
  while (sent < max && t < end) {
    int want = max - sent < BATCH ? (int)(max - sent) : BATCH;
    int n = sendmmsg(fd, msgs, (unsigned)want, 0);
    if (n > 0) {
      sent += n;
    } else if (errno != ENOBUFS && errno != EAGAIN && errno != EINTR) {
      perror("sendmmsg");
      return 1;
    }
    t = now();
  }
  printf("{\"sent\": %lld, \"seconds\": %.3f, \"rate\": %.0f}\n", sent, t - start,
         sent / (t - start));
  close(fd);
  return 0;
}
