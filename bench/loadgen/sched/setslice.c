// setslice TID NICE RUNTIME_NS [POLICY]: sched_setattr(2) on one thread (SCHED_OTHER by
// default; 5 = SCHED_IDLE; RUNTIME_NS is the EEVDF slice on Linux 6.12+, 0 = default),
// then prints what sched_getattr reads back. For writer_sched_pair.sh.
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>
struct sched_attr {
  uint32_t size, sched_policy;
  uint64_t sched_flags;
  int32_t sched_nice;
  uint32_t sched_priority;
  uint64_t sched_runtime, sched_deadline, sched_period;
  uint32_t util_min, util_max;
};
int main(int argc, char** argv) {
  if (argc < 4) {
    fprintf(stderr, "usage: setslice TID NICE RUNTIME_NS [POLICY]\n");
    return 2;
  }
  struct sched_attr a;
  memset(&a, 0, sizeof a);
  a.size = sizeof a;
  a.sched_policy = argc > 4 ? atoi(argv[4]) : 0;
  a.sched_nice = atoi(argv[2]);
  a.sched_runtime = strtoull(argv[3], 0, 10);
  if (syscall(SYS_sched_setattr, atoi(argv[1]), &a, 0) != 0) {
    perror("sched_setattr");
    return 1;
  }
  struct sched_attr b;
  memset(&b, 0, sizeof b);
  if (syscall(SYS_sched_getattr, atoi(argv[1]), &b, sizeof b, 0) == 0)
    printf("tid %s policy %u nice %d runtime %llu\n", argv[1], b.sched_policy, b.sched_nice,
           (unsigned long long)b.sched_runtime);
  return 0;
}
