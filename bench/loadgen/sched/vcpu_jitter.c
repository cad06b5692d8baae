// vcpu_jitter CPU: spins on CPU for 5 s and counts the gaps between two clock reads
// (over 100 us, 500 us, 2 ms): time the host took the vCPU away. Run one per CPU at once.
//   cc -O2 -o /tmp/vcpu_jitter vcpu_jitter.c && (/tmp/vcpu_jitter 1 & /tmp/vcpu_jitter 0; wait)
#define _GNU_SOURCE
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
static uint64_t now() {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1000000000ull + t.tv_nsec;
}
int main(int c, char** v) {
  cpu_set_t s;
  CPU_ZERO(&s);
  CPU_SET(atoi(v[1]), &s);
  sched_setaffinity(0, sizeof s, &s);
  uint64_t st = now(), last = st, lost = 0;
  int n100 = 0, n500 = 0, n2000 = 0;
  uint64_t mx = 0;
  while (last - st < 5000000000ull) {
    uint64_t t = now();
    uint64_t g = t - last;
    if (g > 100000) {
      n100++;
      lost += g;
    }
    if (g > 500000) n500++;
    if (g > 2000000) n2000++;
    if (g > mx) mx = g;
    last = t;
  }
  printf("cpu %s: gaps>100us %d >500us %d >2ms %d max %.1f ms, lost %.1f%%\n", v[1], n100, n500,
         n2000, mx / 1e6, lost / 5e7);
}
