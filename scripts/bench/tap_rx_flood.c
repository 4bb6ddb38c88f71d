// Floods 60-byte Ethernet frames out of a network interface through a raw AF_PACKET socket, as
// fast as one core can, for the TAP benchmarks (scripts/bench/tap_rx.sh, tap_fwd.sh). Sent on the
// kernel side of a TAP, every frame lands in the TAP's queue for its reader.
//
// usage: tap_rx_flood [-t DST_MAC,SRC_IP,DST_IP,DPORT,FLOWS] [-w COUNTER [-c PID]]
//                     IFNAME SECONDS MAX_FRAMES
// prints: {"sent": N, "seconds": S, "rate": R} (plus the -w fields below)
//
// Without options the frames are broadcast frames of a local experimental EtherType (tap_rx.sh).
// -t: TCP ACK segments instead (tap_fwd.sh): Ethernet to DST_MAC, IPv4 SRC_IP -> DST_IP (valid
//     header checksum, RFC 791 3.1; DF; TTL 64), TCP source port 10000 + (i mod FLOWS) to DPORT,
//     flags ACK, valid TCP checksum (RFC 793 3.1), no payload, zero padding to 60 bytes. FLOWS
//     distinct frames (1..4096) are sent in turn, so a balancer sees FLOWS flows.
// -w: COUNTER is a file holding one decimal counter, e.g. /sys/class/net/TAP/statistics/
//     rx_packets (the frames a forwarder wrote back into the TAP). Without -c it is read WARM
//     seconds after the start of the flood and at its end: "fwd" frames over "fwdSeconds", rate
//     "fwdRate" (the forwarder's steady rate while this core floods).
// -c: PID is a stopped (SIGSTOP) forwarder: the MAX_FRAMES frames are sent into its queue first,
//     then it gets SIGCONT and the counter is watched (every POLL_US) until it stays unchanged
//     for IDLE; "drained" frames over "drainSeconds", rate "drainRate", from the first change of
//     the counter to its last change (as tap_rx.c times a drain from its first frame, so the
//     forwarder's wake-up latency is not counted); "total": every change since SIGCONT.
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BATCH 64
#define FRAME 60
#define MAX_FLOWS 4096
#define WARM 0.5         // seconds of flood before the first counter sample (-w without -c)
#define IDLE 0.05        // seconds without a counter change that end a drain (-c)
#define DRAIN_MAX 5.0    // a drain is watched at most this long (-c)
#define POLL_US 20       // between counter reads while watching a drain (-c)

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

// Reads the decimal counter of an open sysfs-like file; -1 on failure.
static long long counter(int fd) {
  char s[32];
  ssize_t n = pread(fd, s, sizeof s - 1, 0);
  if (n <= 0) return -1;
  s[n] = 0;
  return atoll(s);
}

// The RFC 1071 sum of len bytes (len even) added to sum, not yet folded.
static unsigned long sum16(const unsigned char *p, int len, unsigned long sum) {
  for (int i = 0; i < len; i += 2) sum += (unsigned long)(p[i] << 8 | p[i + 1]);
  return sum;
}

static unsigned short fold(unsigned long sum) {
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return (unsigned short)~sum;
}

// Writes the -t frame of source port sport into f (FRAME bytes, zeroed by the caller).
static void tcp_frame(unsigned char *f, const unsigned char *dmac, uint32_t sip, uint32_t dip,
                      unsigned dport, unsigned sport) {
  static const unsigned char smac[6] = {0x02, 0, 0, 0, 0, 0x01};
  memcpy(f, dmac, 6);
  memcpy(f + 6, smac, 6);
  f[12] = 0x08;  // IPv4
  unsigned char *ip = f + 14, *tcp = f + 34;
  ip[0] = 0x45;  // version 4, IHL 5
  ip[3] = 40;    // total length: 20 + 20
  ip[6] = 0x40;  // DF
  ip[8] = 64;    // TTL
  ip[9] = 6;     // TCP
  memcpy(ip + 12, &sip, 4);  // sip and dip are in network order
  memcpy(ip + 16, &dip, 4);
  unsigned short c = fold(sum16(ip, 20, 0));
  ip[10] = c >> 8;
  ip[11] = c & 0xff;
  tcp[0] = sport >> 8;
  tcp[1] = sport & 0xff;
  tcp[2] = dport >> 8;
  tcp[3] = dport & 0xff;
  tcp[7] = 1;         // seq 1
  tcp[11] = 1;        // ack 1
  tcp[12] = 5 << 4;   // data offset 5
  tcp[13] = 0x10;     // ACK
  tcp[14] = tcp[15] = 0xff;  // window
  // The pseudo-header (RFC 793 3.1): addresses, protocol, TCP length.
  c = fold(sum16(ip + 12, 8, sum16(tcp, 20, 6 + 20)));
  tcp[16] = c >> 8;
  tcp[17] = c & 0xff;
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

static void usage(const char *argv0) {
  fprintf(stderr,
          "usage: %s [-t DST_MAC,SRC_IP,DST_IP,DPORT,FLOWS] [-w COUNTER [-c PID]] IFNAME "
          "SECONDS MAX_FRAMES\n",
          argv0);
}

static unsigned char frames[MAX_FLOWS][FRAME];

int main(int argc, char **argv) {
  const char *tcpSpec = NULL, *counterPath = NULL;
  pid_t cont = 0;
  int opt;
  while ((opt = getopt(argc, argv, "+t:w:c:")) != -1) {
    if (opt == 't') tcpSpec = optarg;
    else if (opt == 'w') counterPath = optarg;
    else if (opt == 'c') cont = (pid_t)atoi(optarg);
    else {
      usage(argv[0]);
      return 2;
    }
  }
  if (argc - optind != 3 || (cont > 0 && counterPath == NULL)) {
    usage(argv[0]);
    return 2;
  }
  const char *ifname = argv[optind];
  double seconds = atof(argv[optind + 1]);
  long long max = atoll(argv[optind + 2]);
  unsigned ifindex = if_nametoindex(ifname);
  if (ifindex == 0) {
    perror("if_nametoindex");
    return 1;
  }

  int flows = 1;
  if (tcpSpec != NULL) {
    char mac[32], sip[32], dip[32];
    unsigned dport;
    unsigned char dmac[6];
    struct in_addr s, d;
    if (sscanf(tcpSpec, "%31[^,],%31[^,],%31[^,],%u,%d", mac, sip, dip, &dport, &flows) != 5 ||
        parse_mac(mac, dmac) < 0 || inet_pton(AF_INET, sip, &s) != 1 ||
        inet_pton(AF_INET, dip, &d) != 1 || dport == 0 || dport > 65535 || flows < 1 ||
        flows > MAX_FLOWS) {
      fprintf(stderr, "-t %s: expected DST_MAC,SRC_IP,DST_IP,DPORT,FLOWS (FLOWS 1..%d)\n",
              tcpSpec, MAX_FLOWS);
      return 2;
    }
    for (int i = 0; i < flows; i++) {
      tcp_frame(frames[i], dmac, s.s_addr, d.s_addr, dport, 10000 + (unsigned)i);
    }
  } else {
    // Broadcast, local source, local experimental EtherType.
    static const unsigned char hdr[14] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02,
                                          0,    0,    0,    0,    0x01, 0x88, 0xb5};
    memcpy(frames[0], hdr, 14);
    for (int i = 14; i < FRAME; i++) frames[0][i] = (unsigned char)i;
  }
  int cfd = -1;
  if (counterPath != NULL && (cfd = open(counterPath, O_RDONLY | O_CLOEXEC)) < 0) {
    perror(counterPath);
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
  memcpy(to.sll_addr, frames[0], 6);

  struct iovec iov[BATCH];
  struct mmsghdr msgs[BATCH];
  memset(msgs, 0, sizeof msgs);
  for (int i = 0; i < BATCH; i++) {
    iov[i].iov_base = frames[0];
    iov[i].iov_len = FRAME;
    msgs[i].msg_hdr.msg_name = &to;
    msgs[i].msg_hdr.msg_namelen = sizeof to;
    msgs[i].msg_hdr.msg_iov = &iov[i];
    msgs[i].msg_hdr.msg_iovlen = 1;
  }

  long long sent = 0, c0 = -1, c1 = -1;
  double start = now(), end = start + seconds, t = start, t0 = 0;
  int sample = cfd >= 0 && cont == 0;
  while (sent < max && t < end) {
    int want = max - sent < BATCH ? (int)(max - sent) : BATCH;
    if (flows > 1) {
      for (int i = 0; i < want; i++) iov[i].iov_base = frames[(sent + i) % flows];
    }
    int n = sendmmsg(fd, msgs, (unsigned)want, 0);
    if (n > 0) {
      sent += n;
    } else if (errno != ENOBUFS && errno != EAGAIN && errno != EINTR) {
      perror("sendmmsg");
      return 1;
    }
    t = now();
    if (sample && c0 < 0 && t - start >= WARM) {
      c0 = counter(cfd);
      t0 = now();
    }
  }
  printf("{\"sent\": %lld, \"seconds\": %.3f, \"rate\": %.0f", sent, t - start,
         sent / (t - start));
  if (sample) {
    c1 = counter(cfd);
    double t1 = now();
    if (c0 >= 0 && c1 >= c0 && t1 > t0) {
      printf(", \"fwd\": %lld, \"fwdSeconds\": %.3f, \"fwdRate\": %.0f", c1 - c0, t1 - t0,
             (c1 - c0) / (t1 - t0));
    } else {
      printf(", \"fwd\": null");  // too short a flood (under WARM) or an unreadable counter
    }
  }
  if (cont > 0) {
    long long base = counter(cfd), last = base, firstCount = -1;
    if (base < 0 || kill(cont, SIGCONT) < 0) {
      perror("counter or SIGCONT");
      return 1;
    }
    double first = 0, changed = 0, begin = now();
    struct timespec pause = {0, POLL_US * 1000};
    for (;;) {
      t = now();
      long long c = counter(cfd);
      if (c != last) {
        if (firstCount < 0) {
          firstCount = c;
          first = t;
        }
        last = c;
        changed = t;
      }
      if (firstCount >= 0 && t - changed > IDLE) break;
      if (t - begin > DRAIN_MAX) break;
      nanosleep(&pause, NULL);
    }
    long long drained = firstCount < 0 ? 0 : last - firstCount;
    double span = changed - first;
    printf(", \"total\": %lld, \"drained\": %lld, \"drainSeconds\": %.6f, \"drainRate\": %.0f",
           last - base, drained, span, span > 0 ? drained / span : 0);
  }
  printf("}\n");
  close(fd);
  return 0;
}
