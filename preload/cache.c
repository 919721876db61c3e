/* Destinations to try over IPv4 first, each for TNAT64_CACHE_TTL seconds after it was learnt
 * (then NAT64 gets its chance again): a 4-way set-associative table of atomic words, bounded
 * (1024 destinations), lock-free and async-signal-safe. A word is the IPv4 address in the high
 * half and the second its entry expires in the low half; 0 is an empty way. Absence means
 * NAT64 first, so the common connection neither reads the clock nor writes here. */
#include <time.h>

#include "tnat64.h"

#define CACHE_SETS 256
#define CACHE_WAYS 4

static _Atomic uint64_t table[CACHE_SETS][CACHE_WAYS];
bool cache_used; /* anything was ever learnt: until then a lookup costs one load */

/* The generation of what was learnt, which route.c's memo of the last way carries: a change here
 * ends every memo. */
uint64_t route_epoch = ROUTE_MEMO_SET;

void route_new_epoch(void)
{
	/* Bits 40-62 count; the count wraps within them, bit 63 stays set. */
	uint64_t old = __atomic_load_n(&route_epoch, __ATOMIC_RELAXED), next;
	do
		next = ROUTE_MEMO_SET | ((old + (1ULL << 40)) & ~ROUTE_MEMO_SET);
	while (!__atomic_compare_exchange_n(&route_epoch, &old, next, true, __ATOMIC_RELAXED, __ATOMIC_RELAXED));
}

static unsigned int set_of(uint32_t address)
{
	/* Fibonacci hashing spreads neighbouring addresses over the sets. */
	return (unsigned int)((address * 2654435769u) >> 24) % CACHE_SETS;
}

/* Seconds of the monotonic clock, from 1 so that no live entry is 0 (vDSO: no system call). */
static uint32_t now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC_COARSE, &t);
	return (uint32_t)t.tv_sec + 1;
}

static _Atomic uint64_t *way_of(uint32_t address)
{
	_Atomic uint64_t *ways = table[set_of(address)];
	for (int w = 0; w < CACHE_WAYS; w++) {
		uint64_t word = __atomic_load_n(&ways[w], __ATOMIC_RELAXED);
		if (word && (uint32_t)(word >> 32) == address)
			return &ways[w];
	}
	return NULL;
}

bool cache_lookup(struct in_addr destination)
{
	_Atomic uint64_t *way = way_of(destination.s_addr);
	if (!way)
		return false;
	uint64_t word = __atomic_load_n(way, __ATOMIC_RELAXED);
	if ((uint32_t)(word >> 32) == destination.s_addr && (int32_t)((uint32_t)word - now()) > 0)
		return true;
	__atomic_compare_exchange_n(way, &word, 0, false, __ATOMIC_RELAXED, __ATOMIC_RELAXED); /* expired */
	return false;
}

static void prefer_ipv4(uint32_t address)
{
	uint64_t word = ((uint64_t)address << 32) | (uint32_t)(now() + TNAT64_CACHE_TTL);
	_Atomic uint64_t *way = way_of(address);
	if (!way) {
		_Atomic uint64_t *ways = table[set_of(address)];
		/* An empty way, else one picked by the address, so one busy destination cannot pin it. */
		way = &ways[address % CACHE_WAYS];
		for (int w = 0; w < CACHE_WAYS; w++)
			if (!__atomic_load_n(&ways[w], __ATOMIC_RELAXED)) {
				way = &ways[w];
				break;
			}
	}
	__atomic_store_n(way, word, __ATOMIC_RELAXED);
	__atomic_store_n(&cache_used, true, __ATOMIC_RELAXED);
	route_new_epoch();
}

static void forget(uint32_t address)
{
	_Atomic uint64_t *way = way_of(address);
	if (!way)
		return;
	uint64_t word = __atomic_load_n(way, __ATOMIC_RELAXED);
	if ((uint32_t)(word >> 32) == address &&
	    __atomic_compare_exchange_n(way, &word, 0, false, __ATOMIC_RELAXED, __ATOMIC_RELAXED))
		route_new_epoch();
}

/* NAT64 broken: IPv4 first for a while. NAT64 worked, or IPv4 is broken: back to NAT64 first.
 * IPv4 worked: the entry that sent it there stands, and still runs out in time. */
void cache_learn(struct in_addr destination, enum method method, bool worked)
{
	if (method == METHOD_NAT64 && !worked)
		prefer_ipv4(destination.s_addr);
	else if (method == METHOD_NAT64 || !worked)
		forget(destination.s_addr);
}
