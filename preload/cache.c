/* The method that last worked for each destination: a 4-way set-associative table of atomic
 * words, bounded (1024 destinations) and lock-free (thread- and fork-safe). A word is the IPv4
 * address in the high half and the method in the low bits; 0 is an empty way. */
#include "tnat64.h"

#define CACHE_SETS 256
#define CACHE_WAYS 4

static _Atomic uint64_t table[CACHE_SETS][CACHE_WAYS];

static unsigned int set_of(uint32_t address)
{
	/* Fibonacci hashing spreads neighbouring addresses over the sets. */
	return (unsigned int)((address * 2654435769u) >> 24) % CACHE_SETS;
}

static uint64_t word_of(uint32_t address, enum method method)
{
	return ((uint64_t)address << 32) | (uint64_t)method;
}

enum method cache_lookup(struct in_addr destination)
{
	uint32_t address = destination.s_addr;
	_Atomic uint64_t *ways = table[set_of(address)];
	for (int w = 0; w < CACHE_WAYS; w++) {
		uint64_t word = __atomic_load_n(&ways[w], __ATOMIC_RELAXED);
		if (word && (uint32_t)(word >> 32) == address)
			return (enum method)(word & 3);
	}
	return METHOD_NONE;
}

void cache_store(struct in_addr destination, enum method method)
{
	uint32_t address = destination.s_addr;
	_Atomic uint64_t *ways = table[set_of(address)];
	uint64_t word = word_of(address, method);
	int empty = -1;
	for (int w = 0; w < CACHE_WAYS; w++) {
		uint64_t current = __atomic_load_n(&ways[w], __ATOMIC_RELAXED);
		if (current && (uint32_t)(current >> 32) == address) {
			if (current != word)
				__atomic_store_n(&ways[w], word, __ATOMIC_RELAXED);
			return;
		}
		if (!current && empty < 0)
			empty = w;
	}
	/* A full set loses a way picked by the address, so one busy destination cannot pin it. */
	int victim = empty >= 0 ? empty : (int)(address % CACHE_WAYS);
	__atomic_store_n(&ways[victim], word, __ATOMIC_RELAXED);
}
