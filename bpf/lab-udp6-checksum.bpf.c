/* The lab's mend for a fault of its NAT64 (tayga 0.9.2): translating an IPv4 UDP datagram, tayga
 * adjusts the checksum incrementally and sends 0x0000 when the sum comes out as zero, where IPv6
 * must send 0xffff (RFC 768, RFC 8200 §8.1): an IPv6 receiver drops a zero checksum as none at all
 * (Udp6InCsumErrors), about one datagram in 65536, and the same one again on every retry of a
 * query. Attached by `tnat64 lab` at the ingress of tayga's tun device, so it sees only what tayga
 * wrote (complete checksums: no offload state to respect). No part of tnat64 itself uses it. */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ipv6.h>
#include <linux/pkt_cls.h>
#include <linux/udp.h>
#include <stddef.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

SEC("tc")
int udp6_checksum_mend(struct __sk_buff *skb)
{
	/* A tun device has no link header: the IPv6 header comes first. tayga writes none of the
	 * extension headers, so UDP follows at once. */
	void *data = (void *)(long)skb->data, *end = (void *)(long)skb->data_end;
	struct ipv6hdr *ip6 = data;
	struct udphdr *udp = (void *)(ip6 + 1);
	if ((void *)(udp + 1) > end || skb->protocol != bpf_htons(ETH_P_IPV6) || ip6->nexthdr != IPPROTO_UDP ||
	    udp->check != 0)
		return TC_ACT_OK;
	/* 0xffff is the same one's-complement zero, in the form a checksum must be sent in. */
	__u16 mended = 0xffff;
	bpf_skb_store_bytes(skb, sizeof(*ip6) + offsetof(struct udphdr, check), &mended, sizeof(mended), 0);
	return TC_ACT_OK;
}

char LICENSE[] SEC("license") = "GPL";
