/* Which descriptors we swapped, and what their application believes about them: one atomic
 * 64-bit word per descriptor (layout in tnat64.h). Lock-free, so a fork in the middle of a call
 * can never leave the child holding a lock. */
#include <sys/mman.h>
#include <sys/resource.h>

#include "tnat64.h"

/* At most this many descriptors are tracked (8 MiB of address space, touched only where used). */
#define REGISTRY_MAX (1u << 20)

static _Atomic uint64_t *words;
static unsigned int n_words;

void registry_init(void)
{
	struct rlimit limit;
	rlim_t n = REGISTRY_MAX;
	/* Sized to the hard limit: the soft limit may be raised up to it later. */
	if (getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_max != RLIM_INFINITY && limit.rlim_max < n)
		n = limit.rlim_max;
	void *p = mmap(NULL, n * sizeof(*words), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
		       -1, 0);
	if (p == MAP_FAILED)
		return; /* nothing tracked: nothing is swapped */
	words = p;
	n_words = (unsigned int)n;
}

static bool tracked(int fd)
{
	return fd >= 0 && (unsigned int)fd < n_words;
}

uint64_t registry_get(int fd)
{
	return tracked(fd) ? __atomic_load_n(&words[fd], __ATOMIC_ACQUIRE) : 0;
}

bool registry_set(int fd, uint64_t word)
{
	if (!tracked(fd))
		return false;
	__atomic_store_n(&words[fd], word, __ATOMIC_RELEASE);
	return true;
}

void registry_clear(int fd)
{
	if (tracked(fd) && __atomic_load_n(&words[fd], __ATOMIC_RELAXED))
		__atomic_store_n(&words[fd], 0, __ATOMIC_RELEASE);
}

void registry_clear_range(unsigned int first, unsigned int last)
{
	for (unsigned int fd = first; fd <= last && fd < n_words; fd++)
		registry_clear((int)fd);
}

void registry_copy(int from, int to)
{
	if (from != to)
		registry_set(to, registry_get(from));
}
