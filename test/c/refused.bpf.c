// SPDX-License-Identifier: GPL-2.0
/* A program the verifier must refuse (it reads far past its context): the test of how tnat64
 * reports a failed load. It has the read-only variable tnat64's loader sets. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

const volatile __u64 tnat64_cgroup = 0;

SEC("cgroup/connect6")
int tnat64_refused(struct bpf_sock_addr *ctx)
{
	return *(volatile __u32 *)((char *)ctx + 4096) + tnat64_cgroup;
}

char LICENSE[] SEC("license") = "GPL";
